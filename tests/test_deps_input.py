"""Reading pasted dependency lists: mix.lock, mix.exs and ``name version`` lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hex_mcp.deps_input import MAX_DEPS, DepsInput, DepsInputError, DepSpec, LockDep, SkippedDep, parse_deps
from hex_mcp.versions import Requirement, Version

FIXTURE_LOCK = Path(__file__).parent / "fixtures" / "inputs" / "mix.lock"


def _by_name(result: DepsInput) -> dict[str, DepSpec]:
    return {dep.name: dep for dep in result.deps}


# --- mix.lock ----------------------------------------------------------------------------------


def test_realistic_mix_lock() -> None:
    result = parse_deps(FIXTURE_LOCK.read_text())
    assert result.format == "mix.lock"
    assert len(result.deps) == 54
    assert all(dep.source == "mix.lock" for dep in result.deps)
    assert all(dep.requirement is None for dep in result.deps)
    assert all(dep.version is not None and Version.parse(dep.version) for dep in result.deps)
    assert result.skipped == [
        SkippedDep("acme_auth", "private repo 'hexpm:acme'"),
        SkippedDep("heroicons", "git dependency"),
    ]
    deps = _by_name(result)
    assert deps["phoenix"] == DepSpec("phoenix", "1.7.14", None, "mix.lock")
    assert deps["phoenix_live_view"].version == "0.20.17"
    assert deps["earmark_parser"].version == "1.4.41"
    assert deps["telemetry"].version == "1.3.0"  # a rebar3 package
    # Nested dependency tuples inside an entry are not entries themselves.
    assert "table" not in deps
    assert "phoenix_view" not in deps
    # Lock entries keep the file's order.
    assert [dep.name for dep in result.deps][:3] == ["bandit", "bunt", "castore"]


def test_lock_app_name_differs_from_package() -> None:
    result = parse_deps(FIXTURE_LOCK.read_text())
    poison = _by_name(result)["poison"]
    assert poison == DepSpec("poison", "3.1.0", None, "mix.lock", app="poison3")
    assert "poison3" not in _by_name(result)


LOCK_MULTILINE = """%{
  # A hand-edited lock with comments, line breaks inside entries and trailing commas.
  "jason": {:hex, :jason, "1.4.4",
    "b9226785a9aa77b6857ca22832cffa5d5011a667207eb2a0ad56adb5db443b8a",
    [:mix],
    [{:decimal, "~> 1.0 or ~> 2.0", [hex: :decimal, repo: "hexpm", optional: true]},],
    "hexpm",
    "c5eb0cab91f094599f94d55bc63409236a8ec69a21a67814529e8d5f6cc90b3b",
  },
  "my_git": {:git, "https://github.com/acme/my_git.git", "abc1234", [branch: "main"]},
  "local": {:path, "../local", []},
  "custom": {:hex, :custom, "1.0.0", "aa", [:mix], [], "myrepo", "bb"},
  "org_dep": {:hex, :org_dep, "2.0.0", "aa", [:mix], [], "hexpm:acme", "bb"},
  "plug": {:hex, :plug, "1.16.1-rc.0", "aa", [:mix], [], "hexpm", "bb"},
}
"""


def test_lock_multiline_entries_and_skips() -> None:
    result = parse_deps(LOCK_MULTILINE)
    assert result.format == "mix.lock"
    assert result.deps == [
        DepSpec("jason", "1.4.4", None, "mix.lock"),
        DepSpec("plug", "1.16.1-rc.0", None, "mix.lock"),
    ]
    assert result.skipped == [
        SkippedDep("my_git", "git dependency"),
        SkippedDep("local", "path dependency"),
        SkippedDep("custom", "private repo 'myrepo'"),
        SkippedDep("org_dep", "private repo 'hexpm:acme'"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        # Hex 0.x lock files: "=>" keys, no repo, no outer checksum.
        '%{"cowboy" => {:hex, :cowboy, "1.0.4",'
        ' "a324a8df9f2316c833a470d918aaf73ae894278b8aa6226ce7a9bf699388f878",'
        ' [:rebar, :make], [{:cowlib, "~> 1.0.0", [hex: :cowlib, optional: false]}]}}',
        # Later Hex: repo but no outer checksum.
        '%{"cowboy": {:hex, :cowboy, "1.0.4", "a3", [:rebar, :make], [], "hexpm"}}',
        # Oldest format: just the version.
        '%{"cowboy": {:hex, :cowboy, "1.0.4"}}',
        # A fragment copied out of a lock file, without the surrounding map.
        '  "cowboy": {:hex, :cowboy, "1.0.4", "a3", [:make], [], "hexpm", "b2"},\n',
        # Minified.
        '%{"cowboy":{:hex,:cowboy,"1.0.4","a3",[:make],[],"hexpm","b2"}}',
    ],
)
def test_lock_format_variants(text: str) -> None:
    result = parse_deps(text)
    assert result.format == "mix.lock"
    assert result.deps == [DepSpec("cowboy", "1.0.4", None, "mix.lock")]
    assert result.skipped == []


def test_truncated_lock_keeps_what_came_before() -> None:
    text = FIXTURE_LOCK.read_text()
    cut = text.index('"phoenix_html"') + 60
    result = parse_deps(text[:cut])
    assert "phoenix_ecto" in _by_name(result)
    assert "phoenix_html" not in _by_name(result)
    assert result.skipped[-1].name == "phoenix_html"
    assert "unparseable mix.lock entry" in result.skipped[-1].reason


def test_lock_invalid_version_and_name_are_skipped() -> None:
    result = parse_deps(
        '%{"a": {:hex, :a, "1.0", "x", [:mix], [], "hexpm", "y"},'
        ' "b": {:hex, :"Bad-Name", "1.0.0", "x", [:mix], [], "hexpm", "y"},'
        ' "c": {:hex, :c, "1.0.0", "x", [:mix], [], "hexpm", "y"}}'
    )
    assert result.deps == [DepSpec("c", "1.0.0", None, "mix.lock")]
    assert [skip.name for skip in result.skipped] == ["a", "b"]
    assert "invalid version '1.0'" in result.skipped[0].reason
    assert "not a Hex package name" in result.skipped[1].reason


def test_lock_of_only_git_deps_is_not_an_error() -> None:
    result = parse_deps(
        '%{"a": {:git, "https://x/a.git", "abc", []}, "b": {:git, "https://x/b.git", "d", []}}'
    )
    assert result.deps == []
    assert [skip.reason for skip in result.skipped] == ["git dependency", "git dependency"]


# --- mix.exs -----------------------------------------------------------------------------------

MIX_EXS = """defmodule MyApp.MixProject do
  use Mix.Project

  @version "0.1.0"
  @source_url "https://github.com/acme/my_app"

  def project do
    [
      app: :my_app,
      version: @version,
      elixir: "~> 1.14",
      elixirc_paths: elixirc_paths(Mix.env()),
      start_permanent: Mix.env() == :prod,
      aliases: aliases(),
      deps: deps(),
      docs: [main: "readme", extras: ~w(README.md CHANGELOG.md), source_url: @source_url],
      preferred_cli_env: [coveralls: :test, "coveralls.html": :test]
    ]
  end

  def application do
    [mod: {MyApp.Application, []}, extra_applications: [:logger, :runtime_tools]]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]

  # Not a dependency even though it looks like one: it is outside the deps functions.
  defp config_tuple, do: {:ok, "~> 9.9"}

  defp deps do
    [
      {:phoenix, "~> 1.7.14"},
      {:phoenix_ecto, "~> 4.5"},
      {:ecto_sql, "~> 3.10"},
      {:postgrex, ">= 0.0.0"},
      {:phoenix_html, "~> 4.1"},
      {:phoenix_live_reload, "~> 1.2", only: :dev},
      # {:commented_out, "~> 1.0"},
      {:phoenix_live_view, "~> 0.20.2"},
      {:floki, ">= 0.30.0", only: :test},
      {:esbuild, "~> 0.8", runtime: Mix.env() == :dev},
      {:tailwind, "~> 0.2", runtime: Mix.env() == :dev},
      {:heroicons,
       github: "tailwindlabs/heroicons",
       tag: "v2.1.1",
       sparse: "optimized",
       app: false,
       compile: false,
       depth: 1},
      {:swoosh, "~> 1.5"},
      {:finch, "~> 0.13"},
      {:jason, "~> 1.2", optional: true},
      {:credo, "~> 1.7", only: [:dev, :test], runtime: false},
      {:dialyxir, "~> 1.4", [only: [:dev], runtime: false]},
      {:bar, path: "../bar"},
      {:baz, git: "https://github.com/acme/baz.git", branch: "main"},
      {:my_json, "~> 3.1", hex: :poison},
      {:secret, "~> 1.0", organization: "acme"},
      {:other, "~> 1.0", repo: "other"},
      {:hexpm_explicit, "~> 1.0", repo: "hexpm"},
      {:core, in_umbrella: true},
      {:gettext, "~> 0.20"},
      {:phoenix, "~> 1.6"},
      {:bandit, "~> 1.5"},
    ] ++ extra_deps()
  end

  defp extra_deps, do: [{:telemetry_poller, "~> 1.0"}]

  defp aliases do
    [
      setup: ["deps.get", "ecto.setup", "assets.setup"],
      "ecto.setup": ["ecto.create", "ecto.migrate", "run #{__DIR__}/priv/repo/seeds.exs"],
      "assets.deploy": ["tailwind my_app --minify", "esbuild my_app --minify", "phx.digest"]
    ]
  end
end
"""


def test_realistic_mix_exs() -> None:
    result = parse_deps(MIX_EXS)
    assert result.format == "mix.exs"
    deps = _by_name(result)
    assert list(deps) == [
        "phoenix",
        "phoenix_ecto",
        "ecto_sql",
        "postgrex",
        "phoenix_html",
        "phoenix_live_reload",
        "phoenix_live_view",
        "floki",
        "esbuild",
        "tailwind",
        "swoosh",
        "finch",
        "jason",
        "credo",
        "dialyxir",
        "poison",
        "hexpm_explicit",
        "gettext",
        "bandit",
        "telemetry_poller",
    ]
    assert deps["phoenix"] == DepSpec("phoenix", None, "~> 1.7.14", "mix.exs")  # first one wins
    assert deps["credo"].requirement == "~> 1.7"
    assert deps["poison"] == DepSpec("poison", None, "~> 3.1", "mix.exs", app="my_json")
    assert all(dep.version is None for dep in result.deps)
    assert all(dep.source == "mix.exs" for dep in result.deps)
    assert all(Requirement.parse(dep.requirement or "") for dep in result.deps)
    assert result.skipped == [
        SkippedDep("heroicons", "git dependency"),
        SkippedDep("bar", "path dependency"),
        SkippedDep("baz", "git dependency"),
        SkippedDep("secret", "private repo 'hexpm:acme'"),
        SkippedDep("other", "private repo 'other'"),
        SkippedDep("core", "umbrella dependency"),
    ]
    assert "ok" not in deps


@pytest.mark.parametrize(
    "text",
    [
        '[{:phoenix, "~> 1.7"}, {:jason, "~> 1.4", optional: true}]',
        '{:phoenix, "~> 1.7"},\n{:jason, "~> 1.4", optional: true},\n',
        'defp deps, do: [{:phoenix, "~> 1.7"}, {:jason, "~> 1.4", optional: true}]',
        'defp deps do\n  [\n    {:phoenix, "~> 1.7"},\n'
        '    {:jason,\n     "~> 1.4",\n     optional: true}\n  ]\nend',
    ],
)
def test_mix_exs_fragments(text: str) -> None:
    result = parse_deps(text)
    assert result.format == "mix.exs"
    assert result.deps == [
        DepSpec("phoenix", None, "~> 1.7", "mix.exs"),
        DepSpec("jason", None, "~> 1.4", "mix.exs"),
    ]


def test_mix_exs_odd_entries() -> None:
    text = """[
      {:no_requirement, only: :test},
      {:"my-dep", "~> 1.0"},
      {:interpolated, "~> #{@version}"},
      {:bad_req, ">= 1.2"},
      {:string_hex, "~> 2.0", hex: "real_name"},
      {:normalized, ">=1.0.0  and  <2.0.0"},
      {:tricky, "~> 1.0", env: :prod, system_env: %{"A" => "}"}, compile: ~s({:not, "a dep"}) <> "?"},
      {:after_tricky, "~> 1.0"},
    ]"""
    result = parse_deps(text)
    assert result.deps == [
        DepSpec("no_requirement", None, None, "mix.exs"),
        DepSpec("real_name", None, "~> 2.0", "mix.exs", app="string_hex"),
        DepSpec("normalized", None, ">= 1.0.0 and < 2.0.0", "mix.exs"),
        DepSpec("tricky", None, "~> 1.0", "mix.exs"),
        DepSpec("after_tricky", None, "~> 1.0", "mix.exs"),
    ]
    reasons = {skip.name: skip.reason for skip in result.skipped}
    assert reasons["my-dep"] == "not a Hex package name: 'my-dep'"
    assert "interpolated" in reasons["interpolated"]
    assert "needs a full MAJOR.MINOR.PATCH" in reasons["bad_req"]


def test_mix_exs_literals_that_look_like_brackets() -> None:
    text = r'''defp deps do
    base = [
      {:a, "~> 1.0", compile: "make #{if true, do: "{", else: "#{"[" <> "}"}"}"},
      {:b, "~> 1.0", env: ~s({"not": [a, dep}), sigil: ~r/[{(]/i, char: ?{, other: ?\}},
      {:c, "~> 1.0", heredoc: """
      {:not_a_dep, "~> 9.0"}
      """}
    ]
    Enum.concat(base, if(Mix.env() == :test, do: [{:d, "~> 1.0"}], else: []))
  end
'''
    result = parse_deps(text)
    assert [dep.name for dep in result.deps] == ["a", "b", "c", "d"]
    assert result.skipped == []


def test_truncated_mix_exs_keeps_complete_deps() -> None:
    result = parse_deps('defp deps do\n  [\n    {:phoenix, "~> 1.7"},\n    {:jason, "~> 1.4", only: [:de')
    assert result.deps == [DepSpec("phoenix", None, "~> 1.7", "mix.exs")]
    assert result.skipped == [
        SkippedDep("jason", "unparseable dependency (truncated or unbalanced?)", "unreadable")
    ]


# --- lines -------------------------------------------------------------------------------------

LINES = """# what we run in production
phoenix 1.7.14
jason@1.4.4
ecto ~> 3.10
plug_cowboy   >= 2.0.0 and < 3.0.0
decimal: 2.1.1
telemetry "~> 1.0"
postgrex
  bandit 1.5.7   # trailing comment
* gettext 0.26.1
- swoosh 1.16.12,
mint==1.6.2

Phoenix 1.0.0
my-lib 1.0.0
cowboy 2.12
finch latest release
ranch 1.8.0-rc.1+build
"""


def test_lines() -> None:
    result = parse_deps(LINES)
    assert result.format == "lines"
    assert result.deps == [
        DepSpec("phoenix", "1.7.14", None, "lines"),
        DepSpec("jason", "1.4.4", None, "lines"),
        DepSpec("ecto", None, "~> 3.10", "lines"),
        DepSpec("plug_cowboy", None, ">= 2.0.0 and < 3.0.0", "lines"),
        DepSpec("decimal", "2.1.1", None, "lines"),
        DepSpec("telemetry", None, "~> 1.0", "lines"),
        DepSpec("postgrex", None, None, "lines"),
        DepSpec("bandit", "1.5.7", None, "lines"),
        DepSpec("gettext", "0.26.1", None, "lines"),
        DepSpec("swoosh", "1.16.12", None, "lines"),
        DepSpec("mint", None, "== 1.6.2", "lines"),
        # Upper case is legal in names published before today's rule (hex.pm serves addressBook).
        DepSpec("Phoenix", "1.0.0", None, "lines"),
    ]
    reasons = [(skip.name, skip.reason) for skip in result.skipped]
    assert reasons[0] == ("my-lib", "not a Hex package name: 'my-lib'")
    assert reasons[1][0] == "cowboy"
    assert "did you mean '~> 2.12'?" in reasons[1][1]
    assert reasons[2] == ("line 17", "unparseable line: 'finch latest release'")
    assert reasons[3][0] == "ranch"
    assert "build metadata" in reasons[3][1]
    assert {skip.kind for skip in result.skipped} == {"unreadable"}


# --- common rules ------------------------------------------------------------------------------


def test_dedup_first_wins() -> None:
    result = parse_deps("jason 1.4.4\njason 1.2.0\nphoenix 1.7.0\njason ~> 1.0\n")
    assert result.deps == [
        DepSpec("jason", "1.4.4", None, "lines"),
        DepSpec("phoenix", "1.7.0", None, "lines"),
    ]
    assert result.skipped == []


def test_cap_at_max_deps() -> None:
    text = "\n".join(f"pkg_{n} 1.0.{n}" for n in range(MAX_DEPS + 37))
    result = parse_deps(text)
    assert len(result.deps) == MAX_DEPS
    assert result.deps[-1].name == f"pkg_{MAX_DEPS - 1}"
    assert result.skipped == [SkippedDep("...", f"37 more (limit {MAX_DEPS})", "limit")]


def test_skipped_entries_are_capped_too() -> None:
    text = "jason 1.4.4\n" + "\n".join(f"bad-{n} 1.0.0" for n in range(500))
    result = parse_deps(text)
    assert result.deps == [DepSpec("jason", "1.4.4", None, "lines")]
    assert len(result.skipped) == 201
    assert result.skipped[-1] == SkippedDep("...", "300 more skipped entries", "limit")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t\n",
        "hello world foo",
        "{{{",
        "The quick brown fox jumps over the lazy dog.\nIt was a dark and stormy night.",
        "# only a comment\n",
        "phoenix 1.7",  # one entry, but it cannot be read
        '{"name": "phoenix", "version": "1.7.14"}',
        "{" * 10_000,
        '%{"jason": {:hex, :jason, "1.4',
    ],
)
def test_nothing_parseable_is_an_error(text: str) -> None:
    with pytest.raises(DepsInputError) as info:
        parse_deps(text)
    message = str(info.value)
    for accepted in ("mix.lock", "mix.exs", "jason 1.4.4"):
        assert accepted in message
    assert isinstance(info.value, ValueError)


def test_mix_exs_without_deps_is_an_error_not_lines() -> None:
    umbrella_root = """defmodule Umbrella.MixProject do
  use Mix.Project

  def project do
    [apps_path: "apps", version: "0.1.0", deps: deps()]
  end

  defp deps do
    []
  end
end
"""
    with pytest.raises(DepsInputError, match=r"no \{:name, requirement\} dependency tuples"):
        parse_deps(umbrella_root)


def test_error_names_the_problem() -> None:
    with pytest.raises(DepsInputError, match=r"did you mean '~> 1\.7'"):
        parse_deps("phoenix 1.7")


def test_oversized_input_is_refused() -> None:
    with pytest.raises(DepsInputError, match="characters"):
        parse_deps("jason 1.4.4\n" * 200_000)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="{}[]()%:,\"'#=>~?ab_1.-@ \n\\", max_size=200))
def test_never_crashes_on_junk(text: str) -> None:
    try:
        result = parse_deps(text)
    except DepsInputError:
        return
    assert len(result.deps) <= MAX_DEPS
    for dep in result.deps:
        assert dep.name
        assert dep.version is None or Version.parse(dep.version)


# --- real-world shapes (fixtures in tests/fixtures/inputs, checked against Elixir in test_deps_elixir) ---

INPUTS = Path(__file__).parent / "fixtures" / "inputs"
CALL_REASON = (
    "dependencies built by a function call that is not in the text; "
    "paste the {:name, requirement} tuples it returns"
)


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "hex_0_5_package.lock",
            [
                ("cowboy", "1.0.0"),
                ("cowlib", "1.0.1"),
                ("plug", "0.9.0"),
                ("poison", "1.2.1"),
                ("ranch", "1.0.0"),
            ],
        ),
        (
            "elixir_0_13_keyword.lock",
            [("cowboy", "0.9.0"), ("cowlib", "0.4.0"), ("exactor", "0.4.0"), ("ranch", "0.9.0")],
        ),
    ],
)
def test_pre_hex_tuple_locks_are_read(fixture: str, expected: list[tuple[str, str]]) -> None:
    result = parse_deps((INPUTS / fixture).read_text())
    assert result.format == "mix.lock"
    assert [(dep.name, dep.version) for dep in result.deps] == expected
    assert result.skipped == []


def test_old_hex_tuple_lengths_are_read() -> None:
    triple = parse_deps((INPUTS / "hex_0_8_triple.lock").read_text())
    assert len(triple.deps) == 7
    assert _by_name(triple)["postgrex"] == DepSpec("postgrex", "0.11.2", None, "mix.lock")
    assert triple.skipped == [SkippedDep("phoenix", "git dependency")]
    six = parse_deps((INPUTS / "hex_0_14_six.lock").read_text())
    assert [dep.name for dep in six.deps][:3] == ["certifi", "cowboy", "cowlib"]
    assert len(six.deps) == 11
    seven = parse_deps((INPUTS / "hex_0_18_seven.lock").read_text())
    assert len(seven.deps) == 6
    assert seven.skipped == [SkippedDep("acme_billing", "private repo 'hexpm:acme'")]


def test_every_lock_entry_not_understood_is_listed() -> None:
    result = parse_deps((INPUTS / "odd_entries.lock").read_text())
    assert result.deps == [
        DepSpec("addressBook", "0.0.1", None, "mix.lock"),
        DepSpec("jason", "1.4.4", None, "mix.lock"),
    ]
    assert result.skipped == [
        SkippedDep(
            "broken", "unparseable mix.lock entry (expected {:hex, :name, version, ...})", "unreadable"
        ),
        SkippedDep(
            "legacy_svn", "unrecognized mix.lock entry ({:svn, ...} is not a Hex package)", "unreadable"
        ),
        SkippedDep("local_lib", "path dependency"),
        SkippedDep(
            "short_version",
            "invalid version '1.0': expected MAJOR.MINOR.PATCH[-PRE] (only '~>' accepts MAJOR.MINOR; "
            "did you mean '~> 1.0'?)",
            "unreadable",
        ),
        SkippedDep("two_part", "unparseable mix.lock entry (expected {:package, version})", "unreadable"),
    ]


def test_lock_of_only_unknown_entries_is_an_error_naming_them() -> None:
    with pytest.raises(DepsInputError) as info:
        parse_deps('%{"legacy": {:svn, "https://svn.example.com/x", "r1"}, "other": {:darcs, "x"}}')
    assert str(info.value).startswith(
        "no Hex dependency could be read from the input. Problems: "
        "legacy: unrecognized mix.lock entry ({:svn, ...} is not a Hex package); "
        "other: unrecognized mix.lock entry ({:darcs, ...} is not a Hex package)."
    )


def test_an_erlang_mod_tuple_does_not_make_a_mix_exs_a_lock() -> None:
    result = parse_deps((INPUTS / "umbrella_child.mix.exs").read_text())
    assert result.format == "mix.exs"
    assert [dep.name for dep in result.deps] == [
        "ecto_sql",
        "oban",
        "ranch",
        "stream_data",
        "benchee",
        "jiffy",
        "hackney",
        "telemetry",
    ]
    assert result.skipped == [
        SkippedDep("core", "umbrella dependency"),
        SkippedDep("accounts", "umbrella dependency"),
    ]


def test_phoenix_app_invalid_requirements_are_unreadable_not_off_hex() -> None:
    result = parse_deps((INPUTS / "phoenix_app.mix.exs").read_text())
    assert len(result.deps) == 26
    deps = _by_name(result)
    assert deps["addressBook"] == DepSpec("addressBook", None, "~> 0.0.1", "mix.exs")
    assert deps["phoenix_live_view"] == DepSpec(
        "phoenix_live_view", None, "~> 0.20.2", "mix.exs"
    )  # override:
    assert deps["poison"].app == "my_json"
    assert [(s.name, s.kind) for s in result.skipped] == [
        ("heroicons", "not_public"),
        ("billing", "not_public"),
        ("mirror_only", "not_public"),
        ("shared_ui", "not_public"),
        ("legacy_api", "not_public"),
        ("bad_requirement", "unreadable"),
        ("short_requirement", "unreadable"),
    ]
    assert (
        result.skipped[5].reason
        == "invalid requirement '~> banana': 'banana': expected MAJOR.MINOR.PATCH[-PRE]"
    )


def test_helper_functions_are_followed_and_calls_are_reported() -> None:
    result = parse_deps((INPUTS / "helpers.mix.exs").read_text())
    assert [(dep.name, dep.requirement) for dep in result.deps] == [
        ("nimble_options", "~> 1.1"),
        ("bypass", "~> 2.1"),
        ("jason", "~> 1.4"),
        ("plug_cowboy", "~> 2.7"),
        ("decimal", "~> 2.1"),
        ("telemetry", "~> 1.2"),
        ("opentelemetry_exporter", "~> 1.7"),
    ]
    assert result.skipped == [
        SkippedDep(
            "phoenix", "the requirement is not a string literal (a variable, sigil or call)", "unreadable"
        ),
        SkippedDep("regex_dep", "git dependency"),
        SkippedDep(
            "interpolated", "the requirement is built at run time (interpolated string)", "unreadable"
        ),
        SkippedDep("Platform.Build.shared_deps()", CALL_REASON, "unreadable"),
        SkippedDep("dep_spec(...)", CALL_REASON, "unreadable"),
        SkippedDep("Platform.Build.dep(...)", CALL_REASON, "unreadable"),
        SkippedDep("otel_deps()", CALL_REASON, "unreadable"),
    ]
    assert "not_a_dep" not in _by_name(result)  # a tuple in docs(), which deps() does not call


def test_sigil_where_the_requirement_would_be_is_a_git_dependency() -> None:
    result = parse_deps('[{:dep, ~r//, github: "acme/dep"}, {:jason, "~> 1.4"}]')
    assert result.deps == [DepSpec("jason", None, "~> 1.4", "mix.exs")]
    assert result.skipped == [SkippedDep("dep", "git dependency")]
    only_sigil = parse_deps('[{:dep, ~r/v1/, github: "acme/dep"}]')
    assert (only_sigil.deps, only_sigil.skipped) == ([], [SkippedDep("dep", "git dependency")])


def test_sigil_requirement_on_a_hex_dep_is_unreadable() -> None:
    result = parse_deps('[{:dep, ~S"~> 1.0", only: :test}, {:jason, "~> 1.4"}]')
    assert result.skipped == [
        SkippedDep("dep", "the requirement is not a string literal (a variable, sigil or call)", "unreadable")
    ]


def test_base_deps_helper_missing_from_the_paste_is_reported() -> None:
    result = parse_deps('defp deps, do: base_deps() ++ [{:jason, "~> 1.4"}]')
    assert result.deps == [DepSpec("jason", None, "~> 1.4", "mix.exs")]
    assert result.skipped == [SkippedDep("base_deps()", CALL_REASON, "unreadable")]


@pytest.mark.parametrize("name", ["addressBook", "A1", "x", "Ecto_SQL2"])
def test_legacy_names_hex_serves_are_accepted(name: str) -> None:
    result = parse_deps(f'%{{"{name}": {{:hex, :{name}, "1.0.0"}}}}')
    assert result.deps == [DepSpec(name, "1.0.0", None, "mix.lock")]


@pytest.mark.parametrize("name", ["1abc", "_private", "my-lib", "a.b", "ümlaut"])
def test_names_hex_cannot_serve_are_refused(name: str) -> None:
    with pytest.raises(DepsInputError, match=f"not a Hex package name: {name!r}"):
        parse_deps(f'%{{"x": {{:hex, :"{name}", "1.0.0"}}}}')


# --- what planning reads: lock dependency lists, mix.exs options, both in one paste ----------------------


def test_lock_entries_carry_their_dependency_lists() -> None:
    deps = _by_name(parse_deps(FIXTURE_LOCK.read_text()))
    lv = deps["phoenix_live_view"].dependencies
    assert lv is not None
    assert LockDep("phoenix", "~> 1.6.15 or ~> 1.7.0") in lv
    assert LockDep("jason", "~> 1.0", optional=True) in lv
    assert deps["bunt"].dependencies == ()
    # A dependency from a private repository cannot constrain a public plan; the lock's `hex:` name is the package.
    text = (
        '%{"a": {:hex, :a, "1.0.0", "x", [:mix], [{:b, "~> 1.0", [hex: :b, repo: "hexpm:acme", optional: false]}, '
        '{:json, "~> 3.0", [hex: :poison, repo: "hexpm", optional: false]}], "hexpm", "y"}}'
    )
    assert _by_name(parse_deps(text))["a"].dependencies == (LockDep("poison", "~> 3.0", False, "json"),)
    # Old locks stop before the dependency list.
    old = parse_deps('%{"a": {:hex, :a, "1.0.0"}}')
    assert old.deps[0].dependencies is None


def test_mix_exs_options_for_planning() -> None:
    result = parse_deps(
        '{:phoenix, "~> 1.7", override: true},\n{:jason, "~> 1.4", optional: true},\n{:plug, "~> 1.14"}'
    )
    deps = _by_name(result)
    assert (deps["phoenix"].override, deps["phoenix"].optional, deps["phoenix"].declared) == (
        True,
        False,
        True,
    )
    assert (deps["jason"].override, deps["jason"].optional) == (False, True)
    assert not deps["plug"].override


def test_a_lock_and_a_mix_exs_in_one_paste_are_merged() -> None:
    exs = '{:phoenix_live_view, "~> 0.20.2", override: true},\n{:new_dep, "~> 1.0"},\n{:ui, path: "../ui"}\n'
    result = parse_deps(exs + FIXTURE_LOCK.read_text())
    assert result.format == "mix.lock+mix.exs"
    deps = _by_name(result)
    lv = deps["phoenix_live_view"]
    assert (lv.version, lv.requirement, lv.override, lv.declared) == ("0.20.17", "~> 0.20.2", True, True)
    assert lv.dependencies is not None and len(lv.dependencies) == 8
    # Locked but not declared: a transitive dependency. Declared but not locked: comes last, without a version.
    assert not deps["plug"].declared
    assert (deps["new_dep"].version, deps["new_dep"].requirement) == (None, "~> 1.0")
    assert result.deps[-1].name == "new_dep"
    assert SkippedDep("ui", "path dependency") in result.skipped
    # The dependency tuples nested in lock entries are never read as mix.exs deps.
    assert sum(1 for dep in result.deps if dep.declared) == 2


def test_a_lock_alone_is_not_read_as_a_mix_exs_too() -> None:
    assert parse_deps(FIXTURE_LOCK.read_text()).format == "mix.lock"
    assert (
        parse_deps(
            (Path(__file__).parent / "fixtures" / "inputs" / "elixir_0_13_keyword.lock").read_text()
        ).format
        == "mix.lock"
    )
