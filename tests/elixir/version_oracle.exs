# Answers Version questions for tests/test_versions_elixir.py, one output line per input line.
#
# Input: the file named by the first argument; each line is a command letter and its arguments,
# separated by spaces, every string argument hex-encoded (so spaces, tabs and any Unicode survive):
#   P <version>                  Version.parse/1
#   C <version> <version>        Version.compare/2 (both must parse)
#   R <requirement>              Version.parse_requirement/1
#   M <requirement> <v1>,<v2>... Version.match?/3 of each version, allow_pre true then false
# Output, in the same order:
#   P: "ok MAJOR MINOR PATCH PRE BUILD" or "error"; PRE is "-" or comma-joined items, "i<int>" for
#      a number and "s<hex>" for a string; BUILD is "-" or hex
#   C: "gt", "lt" or "eq"
#   R: "ok" or "error"
#   M: "error" if the requirement does not parse, else one two-character code per version,
#      "1"/"0" for allow_pre true and false, "e" when the version does not parse
defmodule VersionOracle do
  def hex(string), do: Base.encode16(string, case: :lower)
  def unhex(text), do: Base.decode16!(text, case: :mixed)

  def answer(["P", version]) do
    case Version.parse(unhex(version)) do
      {:ok, v} -> "ok #{v.major} #{v.minor} #{v.patch} #{pre(v.pre)} #{build(v.build)}"
      :error -> "error"
    end
  end

  def answer(["C", a, b]), do: Atom.to_string(Version.compare(unhex(a), unhex(b)))

  def answer(["R", requirement]) do
    case Version.parse_requirement(unhex(requirement)) do
      {:ok, _} -> "ok"
      :error -> "error"
    end
  end

  def answer(["M", requirement]), do: answer(["M", requirement, ""])

  def answer(["M", requirement, versions]) do
    case Version.parse_requirement(unhex(requirement)) do
      {:ok, req} ->
        versions
        |> String.split(",", trim: true)
        |> Enum.map_join(" ", fn version ->
          case Version.parse(unhex(version)) do
            {:ok, v} -> flag(Version.match?(v, req, allow_pre: true)) <> flag(Version.match?(v, req, allow_pre: false))
            :error -> "e"
          end
        end)

      :error ->
        "error"
    end
  end

  defp flag(true), do: "1"
  defp flag(false), do: "0"

  defp pre([]), do: "-"

  defp pre(parts) do
    Enum.map_join(parts, ",", fn
      part when is_integer(part) -> "i#{part}"
      part -> "s" <> hex(part)
    end)
  end

  defp build(nil), do: "-"
  defp build(text), do: hex(text)
end

[path] = System.argv()

path
|> File.stream!()
|> Stream.map(&String.trim_trailing(&1, "\n"))
|> Stream.map(fn line -> VersionOracle.answer(String.split(line, " ")) <> "\n" end)
|> Stream.into(IO.binstream(:stdio, :line))
|> Stream.run()
