# Ground truth for the pasted-dependencies parser, read with Elixir's own parser.
#
#   elixir tests/elixir/deps_truth.exs FILE...
#
# For every file (a *.lock is a mix.lock, anything else a mix.exs) prints one tab-separated line per
# dependency entry:
#
#   FILE  dep         APP  PACKAGE  VERSION  REQUIREMENT   a Hex dependency to check
#   FILE  not_public  APP                                  git, path, umbrella or private repo
#   FILE  unreadable  APP                                  invalid, non-literal or built by a call
#
# or "FILE  error  MESSAGE" when Elixir cannot parse the file. Nothing is evaluated except literal
# mix.lock terms: a mix.exs is read from its syntax tree, as the Python parser reads it from text.

defmodule DepsTruth do
  @name ~r/\A[A-Za-z][A-Za-z0-9_]*\z/
  @control_flow [:if, :unless, :case, :cond, :for, :with]

  def run(paths) do
    for path <- paths do
      rows =
        if String.ends_with?(path, ".lock"),
          do: lock(File.read!(path)),
          else: exs(File.read!(path))

      for row <- rows, do: IO.puts(Enum.join([path | row], "\t"))
    end
  end

  # --- mix.lock: a map (or, in the oldest files, a keyword list) of literal tuples ---------------

  def lock(text) do
    with {:ok, ast} <- Code.string_to_quoted(text, warn_on_unnecessary_quotes: false),
         true <- Macro.quoted_literal?(ast) do
      {lock, _} = Code.eval_quoted(ast)
      lock |> Enum.to_list() |> Enum.map(&lock_entry/1) |> dedup()
    else
      {:error, error} -> [["error", inspect(error)]]
      false -> [["error", "not a literal term"]]
    end
  end

  defp lock_entry({app, entry}) do
    app = to_string(app)

    case entry do
      {:git, _, _, _} -> ["not_public", app]
      {:path, _, _} -> ["not_public", app]
      {:package, version} when is_binary(version) -> hex(app, app, version, "hexpm")
      {:hex, name, version} -> hex(app, name, version, "hexpm")
      {:hex, name, version, _, _, _} -> hex(app, name, version, "hexpm")
      {:hex, name, version, _, _, _, repo} -> hex(app, name, version, repo)
      {:hex, name, version, _, _, _, repo, _} -> hex(app, name, version, repo)
      _ -> ["unreadable", app]
    end
  end

  defp hex(app, name, version, repo) do
    name = to_string(name)

    cond do
      repo != "hexpm" -> ["not_public", app]
      not Regex.match?(@name, name) -> ["unreadable", app]
      match?({:ok, _}, Version.parse(version)) -> ["dep", app, name, version, ""]
      true -> ["unreadable", app]
    end
  end

  # First entry per package wins; skipped entries are all kept.
  defp dedup(rows) do
    {kept, _} =
      Enum.reduce(rows, {[], MapSet.new()}, fn
        ["dep", _, package | _] = row, {acc, seen} ->
          if MapSet.member?(seen, package),
            do: {acc, seen},
            else: {[row | acc], MapSet.put(seen, package)}

        row, {acc, seen} ->
          {[row | acc], seen}
      end)

    Enum.reverse(kept)
  end

  # --- mix.exs: dependency tuples in the deps functions ------------------------------------------

  def exs(text) do
    # The literal encoder keeps `only: :test` (a keyword pair) apart from `{:only, :test}` (a tuple).
    encoder = fn literal, meta -> {:ok, {:__block__, meta, [literal]}} end

    options = [literal_encoder: encoder, columns: false, warn_on_unnecessary_quotes: false]

    case Code.string_to_quoted(text, options) do
      {:ok, ast} ->
        functions = functions(ast)
        names = deps_functions(functions)
        regions = if names == [], do: [ast], else: Enum.flat_map(names, &Map.fetch!(functions, &1))
        in_function = names != []

        deps = Enum.flat_map(regions, &find_deps(&1, in_function))
        calls = Enum.flat_map(regions, &unread_calls(&1, functions))
        dedup(Enum.map(deps, &dep/1) ++ Enum.map(calls, &["unreadable", &1]))

      {:error, error} ->
        [["error", inspect(error)]]
    end
  end

  defp functions(ast) do
    {_, found} =
      Macro.prewalk(ast, %{}, fn
        {kind, _, [head, body]} = node, acc when kind in [:def, :defp] ->
          {node, Map.update(acc, fun_name(head), [body], &(&1 ++ [body]))}

        node, acc ->
          {node, acc}
      end)

    found
  end

  defp fun_name({:when, _, [head | _]}), do: fun_name(head)
  defp fun_name({name, _, _}) when is_atom(name), do: name

  # Functions named *deps, plus the functions of the file they call, transitively.
  defp deps_functions(functions) do
    start = for {name, _} <- functions, String.ends_with?(Atom.to_string(name), "deps"), do: name
    grow(start, start, functions)
  end

  defp grow([], seen, _functions), do: seen

  defp grow([name | rest], seen, functions) do
    {_, called} =
      Macro.prewalk(Map.fetch!(functions, name), [], fn
        {callee, _, args} = node, acc when is_atom(callee) and is_list(args) -> {node, [callee | acc]}
        node, acc -> {node, acc}
      end)

    new = for callee <- Enum.uniq(called), Map.has_key?(functions, callee), callee not in seen, do: callee
    grow(rest ++ new, seen ++ new, functions)
  end

  defp find_deps(node, in_function) do
    case dep_items(node, in_function) do
      nil -> node |> children() |> Enum.flat_map(&find_deps(&1, in_function))
      items -> [items]
    end
  end

  defp children({:__block__, _, items}), do: items
  defp children({:{}, _, items}), do: items
  defp children({a, b}), do: [a, b]
  defp children({f, _, args}) when is_list(args), do: [f | args]
  defp children(list) when is_list(list), do: list
  defp children(_), do: []

  # The items of `{:name, ...}` when it is shaped like a dependency, else nil.
  defp dep_items(node, in_function) do
    items =
      case node do
        {:__block__, _, [{a, b}]} -> [a, b]
        {:{}, _, items} -> items
        _ -> nil
      end

    with [first, second | rest] <- items,
         {:__block__, _, [app]} when is_atom(app) <- first,
         true <- dep_second?(second, rest, in_function) do
      items
    else
      _ -> nil
    end
  end

  defp dep_second?(second, rest, in_function) do
    cond do
      string?(second) or keywords?(second) -> true
      literal?(second) -> false
      in_function -> true
      true -> match?([_ | _], rest) and keywords?(hd(rest))
    end
  end

  defp string?({:__block__, _, [s]}), do: is_binary(s)
  defp string?(_), do: false

  defp literal?({:__block__, _, [x]}), do: is_atom(x) or is_binary(x) or is_list(x)
  defp literal?({:{}, _, _}), do: true
  defp literal?(_), do: false

  # A keyword list is wrapped as a literal when written with brackets, bare when it trails a call or tuple.
  defp keywords?({:__block__, _, [list]}) when is_list(list), do: keywords?(list)
  defp keywords?([_ | _] = list), do: Enum.all?(list, &pair?/1)
  defp keywords?(_), do: false

  defp pair?({{:__block__, meta, [key]}, _}) when is_atom(key), do: meta[:format] == :keyword
  defp pair?(_), do: false

  defp options(items) do
    for item <- items, keywords?(item), {{_, _, [key]}, value} <- unwrap(item), do: {key, value}
  end

  defp unwrap({:__block__, _, [list]}) when is_list(list), do: list
  defp unwrap(list), do: list

  defp dep([{:__block__, _, [app]}, second | _] = items) do
    app = Atom.to_string(app)
    opts = options(tl(items))
    has = &Keyword.has_key?(opts, &1)
    repo = Keyword.get(opts, :repo)

    cond do
      has.(:git) or has.(:github) or has.(:path) or has.(:in_umbrella) or has.(:organization) ->
        ["not_public", app]

      repo != nil and repo != {:__block__, [], ["hexpm"]} and text(repo) != "hexpm" ->
        ["not_public", app]

      true ->
        package = if has.(:hex), do: text(Keyword.fetch!(opts, :hex)), else: app

        cond do
          package == nil or not Regex.match?(@name, package) -> ["unreadable", app]
          keywords?(second) -> ["dep", app, package, "", ""]
          not string?(second) -> ["unreadable", app]
          true -> requirement(app, package, elem(second, 2) |> hd())
        end
    end
  end

  defp requirement(app, package, text) do
    case Version.parse_requirement(text) do
      {:ok, _} -> ["dep", app, package, "", text]
      :error -> ["unreadable", app]
    end
  end

  defp text({:__block__, _, [x]}) when is_atom(x) or is_binary(x), do: to_string(x)
  defp text(_), do: nil

  # Calls whose result the text does not show: an element of a dependency list, or an operand of
  # ++, calling a function the file does not define.
  defp unread_calls(ast, functions) do
    {_, found} =
      Macro.prewalk(ast, [], fn
        {:++, _, operands} = node, acc ->
          {node, acc ++ Enum.flat_map(operands, &unread_call(&1, functions))}

        {:__block__, _, [list]} = node, acc when is_list(list) ->
          if Enum.any?(list, &dep_items(&1, false)),
            do: {node, acc ++ Enum.flat_map(list, &unread_call(&1, functions))},
            else: {node, acc}

        node, acc ->
          {node, acc}
      end)

    found
  end

  defp unread_call({name, _, args}, functions) when is_atom(name) and is_list(args) do
    if name in @control_flow or Map.has_key?(functions, name) or operator?(name),
      do: [],
      else: [label(Atom.to_string(name), args)]
  end

  defp unread_call({{:., _, [{:__aliases__, _, parts}, fun]}, _, args}, _functions) when is_atom(fun),
    do: [label(Enum.join(parts, ".") <> "." <> Atom.to_string(fun), args)]

  defp unread_call(_, _), do: []

  # Operators and the syntax tree's own nodes (__block__, __aliases__) are not calls.
  defp operator?(name),
    do: not Regex.match?(~r/\A[a-z][A-Za-z0-9_]*[?!]?\z|\A_[A-Za-z0-9]/, Atom.to_string(name))

  defp label(name, []), do: name <> "()"
  defp label(name, _), do: name <> "(...)"
end

DepsTruth.run(System.argv())
