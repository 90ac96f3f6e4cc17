"""hex_plan through the protocol: a real MCP client, the fake upstream's signed registry over real HTTP."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from fakehex.upstream import FakeUpstream, Fault
from hex_mcp import planning
from hex_mcp.config import Settings
from hex_mcp.offload import INLINE_MAX_CHARS
from hex_mcp.server import create_server
from hex_mcp.versions import Version
from tests.helpers import split_source, text_of, tokens

pytestmark = pytest.mark.anyio

INPUTS = Path(__file__).resolve().parent / "fixtures" / "inputs"
# 40 Hex packages of a Phoenix 1.7 app, consistent with the fake registry (generated from it).
LOCK = (INPUTS / "phoenix17_app.lock").read_text()
EXS = """\
defp deps do
  [
    {:phoenix, "~> 1.7.14"},
    {:phoenix_live_view, "~> 0.20.2"},
    {:phoenix_html, "~> 3.3"},
    {:phoenix_ecto, "~> 4.5"},
    {:ecto_sql, "~> 3.10"},
    {:postgrex, ">= 0.0.0"},
    {:swoosh, "~> 1.5"},
    {:finch, "~> 0.13"},
    {:telemetry_metrics, "~> 1.0"},
    {:telemetry_poller, "~> 1.0"},
    {:gettext, "~> 0.20"},
    {:jason, "~> 1.2"},
    {:bandit, "~> 1.5"},
    {:credo, "~> 1.7", only: [:dev, :test], runtime: false},
    {:ex_doc, ">= 0.0.0", only: :dev, runtime: false},
    {:my_ui, path: "../my_ui"}
  ]
end
"""
APP = EXS + "\n" + LOCK


@pytest.fixture
async def both_modes(make_settings: Callable[..., Settings], mode: str) -> AsyncIterator[Client]:
    """The registry on, in both client modes: for the main answers."""
    async with Client(create_server(make_settings(registry="auto")), mode=mode) as c:  # type: ignore[arg-type]
        yield c


@pytest.fixture
async def plan_client(make_settings: Callable[..., Settings]) -> AsyncIterator[Client]:
    """The registry on, one client mode: each test reads ~55 verified registry files, so the rest run once."""
    async with Client(create_server(make_settings(registry="auto"))) as c:
        yield c


async def _plan(client: Client, **args: Any) -> tuple[str, str, dict[str, Any]]:
    result = await client.call_tool("hex_plan", args)
    assert not result.is_error, text_of(result)
    body, source = split_source(text_of(result))
    assert result.structured_content is not None
    return body, source, result.structured_content


async def test_update_one_package_from_a_lock_alone(both_modes: Client) -> None:
    body, source, data = await _plan(both_modes, deps=LOCK, update="phoenix")
    assert body == (
        "mix deps.update phoenix · mix.lock, 40 locked\n"
        "changes (2):\n"
        "- phoenix 1.7.14 → 1.7.21\n"
        "- phoenix_html 3.3.4 → 4.2.1 (dependency of phoenix_template, unlocked with it)\n"
        "held: phoenix stays 1.7.21, latest 1.8.7: phoenix_live_view 0.20.17 requires ~> 1.6.15 or ~> 1.7.0\n"
        "note: mix.exs not given: top-level dependencies inferred from mix.lock, with any version allowed"
    )
    assert source.startswith("source: signed Hex registry · live · ")
    assert source.endswith(" registry files read")
    assert data["outcome"] == "plan"
    assert data["changes"][0] == {
        "name": "phoenix",
        "old": "1.7.14",
        "new": "1.7.21",
        "why": "updated as requested",
    }


async def test_a_target_the_app_cannot_reach_is_explained_in_a_few_lines(both_modes: Client) -> None:
    result = await both_modes.call_tool(
        "hex_plan", {"deps": APP, "update": "phoenix", "target": "phoenix ~> 1.8"}
    )
    assert not result.is_error
    text = text_of(result)
    body, _ = split_source(text)
    assert body == (
        "mix deps.update phoenix (target phoenix ~> 1.8) · mix.lock+mix.exs, 40 locked\n"
        "No plan: no version of phoenix satisfies every requirement on it:\n"
        "- your mix.exs requires phoenix_live_view ~> 0.20.2\n"
        "- phoenix_live_view 0.20.17 requires phoenix ~> 1.6.15 or ~> 1.7.0\n"
        "- your target requires phoenix ~> 1.8\n"
        "Next: aim for a different phoenix target; or update phoenix_live_view to a release that allows another "
        'phoenix, or, only if you know they work together, add {:phoenix, "...", override: true} to mix.exs.\n'
        "left alone, not from Hex: my_ui (path)"
    )
    assert tokens(text) <= 300
    assert result.structured_content is not None and result.structured_content["outcome"] == "conflict"


async def test_the_apps_own_requirement_holds_a_package(plan_client: Client) -> None:
    body, _, data = await _plan(plan_client, deps=APP, update="phoenix_html")
    assert body == (
        "mix deps.update phoenix_html · mix.lock+mix.exs, 40 locked\n"
        "no change: the lock already has what this update would pick\n"
        "held: phoenix_html stays 3.3.4, latest 4.2.1: your mix.exs requires ~> 3.3\n"
        "left alone, not from Hex: my_ui (path)"
    )
    assert data["held"] == [
        {
            "name": "phoenix_html",
            "version": "3.3.4",
            "latest": "4.2.1",
            "because": ["your mix.exs requires ~> 3.3"],
        }
    ]


async def test_two_targets_move_together(plan_client: Client) -> None:
    body, _, _ = await _plan(
        plan_client,
        deps=APP,
        update="phoenix phoenix_live_view",
        target="phoenix ~> 1.8; phoenix_live_view ~> 1.0",
    )
    assert body == (
        "mix deps.update phoenix phoenix_live_view (target phoenix ~> 1.8, phoenix_live_view ~> 1.0) · "
        "mix.lock+mix.exs, 40 locked\n"
        "changes (2):\n"
        "- phoenix 1.7.14 → 1.8.7 (target ~> 1.8)\n"
        "- phoenix_live_view 0.20.17 → 1.1.8 (target ~> 1.0)\n"
        "removed (1): castore\n"
        "left alone, not from Hex: my_ui (path)"
    )


async def test_an_override_lifts_a_packages_requirement(plan_client: Client) -> None:
    # phoenix_live_view 0.20.17 allows phoenix up to 1.7 only; `override: true` sets that requirement aside.
    exs = EXS.replace('{:phoenix, "~> 1.7.14"}', '{:phoenix, "~> 1.8", override: true}')
    body, _, _ = await _plan(plan_client, deps=exs + LOCK, update="phoenix")
    assert body == (
        "mix deps.update phoenix · mix.lock+mix.exs, 40 locked\n"
        "changes (1):\n"
        "- phoenix 1.7.14 → 1.8.7\n"
        "removed (1): castore\n"
        "left alone, not from Hex: my_ui (path)"
    )


async def test_a_retired_pick_is_flagged(plan_client: Client) -> None:
    lock = _lock({"mint": "1.4.2", "hpax": "0.2.0"})
    body, _, data = await _plan(plan_client, deps=lock, update="mint", target="mint == 1.5.0")
    assert "- mint 1.4.2 → 1.5.0 (target == 1.5.0)" in body
    assert "check before taking: mint 1.5.0 retired: other" in body
    assert data["flagged"] == [{"name": "mint", "version": "1.5.0", "reason": "retired: other"}]


async def test_all_on_an_aged_40_dependency_lock_stays_within_budget(
    plan_client: Client, fake: FakeUpstream
) -> None:
    aged = _aged(LOCK, fake)
    result = await plan_client.call_tool("hex_plan", {"deps": aged, "update": "all"})
    text = text_of(result)
    assert not result.is_error, text
    assert result.structured_content is not None
    assert len(result.structured_content["changes"]) >= 35
    assert tokens(text) <= 900, tokens(text)


# -- bounds and failures -----------------------------------------------------------------------------------


async def test_registry_off_says_planning_needs_it(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    async with Client(create_server(make_settings(registry="off"))) as c:
        result = await c.call_tool("hex_plan", {"deps": LOCK, "update": "phoenix"})
    assert result.is_error
    assert text_of(result) == "Error executing tool hex_plan: " + (
        "hex_plan needs every release's dependencies, which only the signed Hex registry lists, and "
        "HEX_MCP_REGISTRY=off is set; set it to auto. hex_outdated answers 'possible or blocked' without it."
    )
    assert fake.count() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {"update": "phoenx"},
            "update names phoenx, which the pasted deps do not hold. Use package names as in mix.lock, 'all', or "
            "give a target (e.g. target='phoenix ~> 1.8') to add a package.",
        ),
        (
            {"update": "   "},
            "update is empty: give package names (e.g. 'phoenix phoenix_live_view') or 'all'.",
        ),
        (
            {"update": "phoenix", "target": "phoenix"},
            "target 'phoenix' has no requirement: write it as 'phoenix ~> 1.8'.",
        ),
        (
            {"update": "phoenix", "target": "phoenix ~> banana"},
            "target 'phoenix ~> banana': invalid requirement '~> banana': 'banana': expected MAJOR.MINOR.PATCH[-PRE]. "
            "Write it as 'phoenix ~> 1.8'.",
        ),
        ({"update": "Phoenix!"}, "update='Phoenix!' is not a Hex package name"),
        ({"deps": "hello there", "update": "all"}, "deps could not be read"),
    ],
)
async def test_bad_input_is_refused_before_any_upstream_call(
    plan_client: Client, fake: FakeUpstream, args: dict[str, Any], message: str
) -> None:
    result = await plan_client.call_tool("hex_plan", {"deps": LOCK, **args})
    assert result.is_error
    assert message in text_of(result)
    assert fake.count() == 0


async def test_the_deadline_stops_the_search_and_says_so(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    fake.add_fault(Fault("delay", "/repo/packages/phoenix_live_view", seconds=3.0))
    async with Client(create_server(make_settings(registry="auto", plan_deadline=0.5))) as c:
        result = await c.call_tool("hex_plan", {"deps": LOCK, "update": "phoenix"})
    assert not result.is_error
    body, _ = split_source(text_of(result))
    assert re.search(
        r"INCOMPLETE: the deadline passed before every registry file was read \(\d+ registry files read\)\. "
        r"No plan was made; narrow the update to fewer packages or ask again\.",
        body,
    ), body


async def test_the_package_bound_stops_the_search_and_says_so(make_settings: Callable[..., Settings]) -> None:
    async with Client(create_server(make_settings(registry="auto", plan_max_packages=5))) as c:
        result = await c.call_tool("hex_plan", {"deps": LOCK, "update": "phoenix"})
    body, _ = split_source(text_of(result))
    assert "INCOMPLETE: the dependency graph reaches more than 5 packages (5 registry files read)." in body


async def test_a_file_failing_verification_is_named(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    fake.add_fault(Fault("registry_bad_signature", "/repo/packages/plug_crypto"))
    async with Client(create_server(make_settings(registry="auto"))) as c:
        result = await c.call_tool("hex_plan", {"deps": LOCK, "update": "phoenix"})
    body, _ = split_source(text_of(result))
    assert body == (
        "mix deps.update phoenix · mix.lock, 40 locked\n"
        "INCOMPLETE: registry files could not be read: plug_crypto: registry file for plug_crypto failed "
        "verification (bad signature): its RSA signature does not match its contents under the repository key. "
        "No plan was made; ask again, and if it keeps failing check the repository (hex_meta shows it).\n"
        "note: read so far: phoenix 1.7.14, latest stable 1.8.7"
    )


# -- helpers ----------------------------------------------------------------------------------------------


def _lock(pins: dict[str, str]) -> str:
    entries = [
        f'  "{name}": {{:hex, :{name}, "{version}", "00", [:mix], [], "hexpm", "00"}},'
        for name, version in pins.items()
    ]
    return "%{\n" + "\n".join(entries) + "\n}\n"


_ENTRY = re.compile(r'^(  "([a-z_]+)": \{:hex, :[a-z_]+, ")([^"]+)(")', re.MULTILINE)


def _aged(lock: str, fake: FakeUpstream) -> str:
    """The lock with every package one stable release back: an `--all` update then changes nearly every line."""

    def back(match: re.Match[str]) -> str:
        package = fake.registry.packages[match[2]]
        stable = sorted(
            (v for r in package["releases"] if not (v := Version.parse(r["version"])).is_prerelease),
            reverse=True,
        )
        current = Version.parse(match[3])
        older = [v for v in stable if v < current]
        return f"{match[1]}{older[0] if older else current}{match[4]}"

    return _ENTRY.sub(back, lock)


# -- hex_outdated: possible or blocked ----------------------------------------------------------------------


async def test_outdated_names_what_blocks_each_update(client: Client) -> None:
    """A mix.lock and a mix.exs in one paste: the lock's dependency lists and the app's requirements both count."""
    result = await client.call_tool("hex_outdated", {"deps": APP})
    assert not result.is_error
    body, _ = split_source(text_of(result))
    rows = [line for line in body.splitlines() if line.startswith("- ")]
    assert (
        "- phoenix 1.7.14 → 1.8.7 · blocked: ~> 1.7.14 from mix.exs, "
        "~> 1.6.15 or ~> 1.7.0 from phoenix_live_view 0.20.17 (locked)" in rows
    )
    assert "- phoenix_html 3.3.4 → 4.2.1 · blocked: ~> 3.3 from mix.exs" in rows
    assert "- phoenix_live_view 0.20.17 → 1.1.8 · blocked: ~> 0.20.2 from mix.exs" in rows
    assert body.startswith("mix.lock+mix.exs · 40 deps checked")
    assert "skipped, not on public Hex (1): my_ui (path dependency)" in body
    data = result.structured_content
    assert data is not None
    html = next(r for r in data["rows"] if r["name"] == "phoenix_html")
    assert (html["update_possible"], html["blocked_by"]) == (False, ["~> 3.3 from mix.exs"])


async def test_outdated_from_a_lock_alone_reads_its_dependency_lists(client: Client) -> None:
    result = await client.call_tool("hex_outdated", {"deps": LOCK})
    body, _ = split_source(text_of(result))
    rows = [line for line in body.splitlines() if line.startswith("- ")]
    assert (
        "- phoenix 1.7.14 → 1.8.7 · blocked: ~> 1.6.15 or ~> 1.7.0 from phoenix_live_view 0.20.17 (locked)"
        in rows
    )
    assert "- phoenix_live_view 0.20.17 → 1.1.8 · possible" in rows
    # phoenix_html 4.x is allowed by every locked package that depends on it.
    assert "- phoenix_html 3.3.4 → 4.2.1 · possible" in rows


# -- one rule for "the version a requirement gives" -------------------------------------------------------

PICKS = [
    ("phoenix", "~> 1.7.0"),
    ("phoenix", "~> 1.8"),
    ("phoenix", ">= 1.9.0-rc.0"),  # only a pre-release matches: Hex takes it
    ("plug", "~> 1.5"),
    ("phoenix_live_view", "~> 1.0"),
    ("phoenix_html", "~> 3.3"),
    ("mint", "~> 1.5.0"),
    ("tiny_slug", "~> 0.2"),
]


async def test_hex_release_hex_releases_and_the_planner_pick_the_same_version(plan_client: Client) -> None:
    for name, requirement in PICKS:
        release = await plan_client.call_tool("hex_release", {"name": name, "version": requirement})
        releases = await plan_client.call_tool(
            "hex_releases", {"name": name, "requirement": requirement, "limit": 1}
        )
        plan = await plan_client.call_tool(
            "hex_plan", {"deps": f'{{:{name}, "{requirement}"}}', "update": "all"}
        )
        assert release.structured_content is not None and releases.structured_content is not None
        assert plan.structured_content is not None
        tool_pick = release.structured_content["release"]["version"]
        assert releases.structured_content["highest_match"] in (tool_pick, None), (name, requirement)
        added = {a["name"]: a["version"] for a in plan.structured_content["added"]}
        assert added[name] == tool_pick, (name, requirement)


async def test_hex_plans_definition_is_small(plan_client: Client) -> None:
    """The 8th tool adds little to what every session loads: name, description and input schema."""
    tool = next(t for t in (await plan_client.list_tools()).tools if t.name == "hex_plan")
    definition = {"name": tool.name, "description": tool.description, "inputSchema": tool.input_schema}
    assert tokens(json.dumps(definition, separators=(",", ":"))) <= 300
    assert tool.input_schema["required"] == ["deps", "update"]
    assert tool.annotations is not None and tool.annotations.read_only_hint is True


@pytest.mark.slow  # starts a parse worker process
async def test_a_large_paste_is_read_off_the_event_loop_with_the_same_plan(plan_client: Client) -> None:
    # Past offload.INLINE_MAX_CHARS the paste is parsed in a worker process; the answer must not change.
    padded = LOCK + "\n" * (INLINE_MAX_CHARS + 1 - len(LOCK))
    assert len(padded) > INLINE_MAX_CHARS
    small, _, _ = await _plan(plan_client, deps=LOCK, update="phoenix")
    large, _, _ = await _plan(plan_client, deps=padded, update="phoenix")
    assert large == small


async def test_a_solve_that_needs_longer_than_its_inline_slice_finishes_in_a_thread(
    plan_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    inline, _, _ = await _plan(plan_client, deps=LOCK, update="phoenix")
    # No time in place at all: the first try stops at once and the whole solve runs in a worker thread.
    monkeypatch.setattr(planning, "INLINE_SOLVE_SECONDS", 0.0)
    threaded, _, data = await _plan(plan_client, deps=LOCK, update="phoenix")
    assert threaded == inline
    assert data["outcome"] == "plan"
