"""hex_outdated: one call over a pasted mix.lock, mix.exs or `name version` list, via the fake upstream."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from mcp import Client

from fakehex.upstream import DEFAULT_FIXTURES, FakeUpstream, Fault
from hex_mcp import render, upgrade
from hex_mcp.config import Settings
from hex_mcp.models import Advisory, Freshness, OutdatedRow, OutdatedView, Retirement, SkippedDepView
from hex_mcp.server import create_server
from hex_mcp.service import OUTDATED_CONCURRENCY, HexService
from hex_mcp.versions import Version
from tests.helpers import tokens

pytestmark = pytest.mark.anyio

OUTDATED_BUDGET = 900  # o200k tokens for a 40-dependency mix.lock, even when every dependency is outdated
FRESHNESS_LINE = re.compile(
    r"source: (hex\.pm|Hex API gateway) · (live|cached \d+[smhd] ago)( \(fetched \S+Z\))?"
    r" · lookups: \d+ live, \d+ cached"
)
CHECKSUM = "0" * 64


def lock_entry(app: str, version: str, package: str | None = None, repo: str = "hexpm") -> str:
    tail = f'"{CHECKSUM}", [:mix], [], "{repo}", "{CHECKSUM}"'
    return f'  "{app}": {{:hex, :{package or app}, "{version}", {tail}}},'


LOCK = "\n".join(
    [
        "%{",
        lock_entry("acme_auth", "0.3.1", repo="hexpm:acme"),
        lock_entry("ghost_pkg", "1.0.0"),
        lock_entry("hackney", "1.23.0"),
        '  "heroicons": {:git, "https://github.com/tailwindlabs/heroicons.git", '
        '"88ab3a0d790e6a47404cba02800a6b25d2afae50", [tag: "v2.1.1"]},',
        lock_entry("jason", "1.4.4"),
        lock_entry("mint", "1.5.0"),
        lock_entry("phoenix", "1.7.14"),
        lock_entry("plug", "1.18.0"),
        lock_entry("poison3", "3.1.0", package="poison"),
        lock_entry("ranch", "1.8.0"),
        lock_entry("telemetry", "1.3.0"),
        lock_entry("tiny_slug", "0.2.0"),
        "}",
    ]
)
LOCK_LOOKUPS = 10  # 12 entries, minus the git and the private one

LOCK_HEXPM = """\
mix.lock · 10 deps checked: 1 vulnerable, 2 retired, 2 major, 1 minor, 1 patch, 2 current, 1 not found \
· 2 skipped
vulnerable (1):
- hackney 1.23.0 → 1.25.0 minor · EEF-CVE-2025-1211 (CVE-2025-1211) high: Server-side request forgery in \
hackney through inconsistent URL parsing · fixed in 1.24.0 · possible
retired (2):
- mint 1.5.0 → 1.7.1 minor · RETIRED (other) · possible
- tiny_slug 0.2.0 → 0.2.1 patch · RETIRED (release invalid: unicode handling bug, use 0.2.1) · possible
major (2):
- poison (app poison3) 3.1.0 → 6.0.0 · possible
- ranch 1.8.0 → 2.2.0 · possible
minor (1):
- phoenix 1.7.14 → 1.8.7 · possible
patch (1):
- plug 1.18.0 → 1.18.1 · possible
up to date (2): jason, telemetry
not found on Hex (1): ghost_pkg
skipped, not on public Hex (2): acme_auth (private repo 'hexpm:acme') · heroicons (git dependency)"""

LOCK_GATEWAY = """\
mix.lock · 10 deps checked: 2 major, 3 minor, 2 patch, 2 current, 1 not found · 2 skipped
major (2):
- poison (app poison3) 3.1.0 → 6.0.0 · possible
- ranch 1.8.0 → 2.2.0 · possible
minor (3):
- hackney 1.23.0 → 1.25.0 · possible
- mint 1.5.0 → 1.7.1 · possible
- phoenix 1.7.14 → 1.8.7 · possible
patch (2):
- plug 1.18.0 → 1.18.1 · possible
- tiny_slug 0.2.0 → 0.2.1 · possible
up to date (2): jason, telemetry
not found on Hex (1): ghost_pkg
skipped, not on public Hex (2): acme_auth (private repo 'hexpm:acme') · heroicons (git dependency)
retirements and advisories: not available via the gateway"""

MIX_EXS = """\
defmodule Demo.MixProject do
  use Mix.Project

  def project, do: [app: :demo, deps: deps()]

  defp deps do
    [
      {:phoenix, "~> 1.7.0"},
      {:plug_cowboy, "~> 2.5"},
      {:jason, "~> 1.2", optional: true},
      {:tiny_slug, "~> 0.2.0"},
      {:my_json, "~> 6.0", hex: :poison},
      {:heroicons, github: "tailwindlabs/heroicons", tag: "v2.1.1"},
      {:common, path: "../common"},
      {:acme_auth, "~> 0.3", organization: "acme"}
    ]
  end
end
"""


def body(text: str) -> str:
    head, _, last = text.rpartition("\n")
    assert FRESHNESS_LINE.fullmatch(last), last
    return head


async def outdated(client: Client, deps: str) -> tuple[str, dict[str, Any]]:
    result = await client.call_tool("hex_outdated", {"deps": deps})
    assert result.is_error is False, result.content
    assert result.structured_content is not None
    return result.content[0].text, result.structured_content  # type: ignore[union-attr]


async def outdated_error(client: Client, deps: str) -> str:
    result = await client.call_tool("hex_outdated", {"deps": deps})
    assert result.is_error is True
    text: str = result.content[0].text  # type: ignore[union-attr]
    return text


def synthetic_lock(pick: Callable[[list[str]], str], count: int = 40) -> str:
    """A mix.lock over the first `count` fixture packages that have a stable release, at `pick(stable)`."""
    lines = ["%{"]
    for path in sorted((DEFAULT_FIXTURES / "packages").glob("*.json")):
        package = json.loads(path.read_text(encoding="utf-8"))
        stable = [r["version"] for r in package["releases"] if not Version.parse(r["version"]).is_prerelease]
        if stable:
            lines.append(lock_entry(package["name"], pick(stable)))
        if len(lines) > count:
            break
    return "\n".join([*lines, "}"])


# -- through the protocol ------------------------------------------------------------------------------------


async def test_mix_lock_both_backends(backend_client: Client, backend: str) -> None:
    text, data = await outdated(backend_client, LOCK)
    assert body(text) == (LOCK_HEXPM if backend == "hexpm" else LOCK_GATEWAY)
    rows = {r["name"]: r for r in data["rows"]}
    assert rows["poison"]["app"] == "poison3"
    assert rows["ghost_pkg"]["status"] == "not_found"
    assert data["skipped"] == [
        {"name": "acme_auth", "reason": "private repo 'hexpm:acme'", "kind": "not_public"},
        {"name": "heroicons", "reason": "git dependency", "kind": "not_public"},
    ]
    if backend == "hexpm":
        assert rows["hackney"]["advisories"][0]["id"] == "EEF-CVE-2025-1211"
        assert rows["hackney"]["fixed_in"] == "1.24.0"
        retirement = {"reason": "invalid", "message": "unicode handling bug, use 0.2.1"}
        assert rows["tiny_slug"]["retirement"] == retirement
        assert [r["status"] for r in data["rows"]][:3] == ["vulnerable", "retired", "retired"]
    else:
        assert rows["hackney"]["advisories"] is None
        assert (data["advisories_known"], data["retirements_known"]) == (False, False)


async def test_one_call_per_dep_and_none_when_warm(
    make_settings: Callable[..., Settings], backend: str, fake: FakeUpstream
) -> None:
    prefix = "/api/packages/" if backend == "hexpm" else "/hex-api/v1/releases"
    async with Client(create_server(make_settings(backend))) as client:
        _, data = await outdated(client, LOCK)
        assert fake.count() == fake.count(prefix) == LOCK_LOOKUPS
        assert (data["live_lookups"], data["cached_lookups"]) == (LOCK_LOOKUPS - 1, 0)  # ghost_pkg is a 404
        text, data = await outdated(client, LOCK)
        # nothing is asked again: the unknown package's 404 is remembered too
        assert fake.count() == LOCK_LOOKUPS
        assert (data["live_lookups"], data["cached_lookups"]) == (0, LOCK_LOOKUPS - 1)
        assert " · cached " in text.rsplit("\n", 1)[1]


async def test_requirement_lines(client: Client) -> None:
    text, data = await outdated(client, "hackney 1.23.0\nphoenix ~> 1.7.0\necto ~> 9.0\njason\nplug@1.18.1\n")
    assert (
        body(text)
        == """\
lines · 5 deps checked: 1 vulnerable, 0 retired, 0 major, 1 minor, 0 patch, 2 unresolved, 1 current
vulnerable (1):
- hackney 1.23.0 → 1.25.0 minor · EEF-CVE-2025-1211 (CVE-2025-1211) high: Server-side request forgery in \
hackney through inconsistent URL parsing · fixed in 1.24.0
minor (1):
- phoenix ~> 1.7.0 = 1.7.21 → 1.8.7 · outside ~> 1.7.0
unresolved (2):
- ecto ~> 9.0 · no release matches ~> 9.0 · latest 3.14.0
- jason · no version given · latest 1.4.4
up to date (1): plug"""
    )
    phoenix = next(r for r in data["rows"] if r["name"] == "phoenix")
    facts = (phoenix["highest_in_requirement"], phoenix["latest_stable"], phoenix["update"])
    assert facts == ("1.7.21", "1.8.7", "minor")


async def test_mix_exs_requirements_and_skips(backend_client: Client, backend: str) -> None:
    text, data = await outdated(backend_client, MIX_EXS)
    expected = """\
mix.exs · 5 deps checked: 0 vulnerable, 0 retired, 0 major, 1 minor, 0 patch, 4 current · 3 skipped
minor (1):
- phoenix ~> 1.7.0 = 1.7.21 → 1.8.7 · outside ~> 1.7.0
up to date (4): jason, plug_cowboy, poison, tiny_slug
skipped, not on public Hex (3): heroicons (git dependency) · common (path dependency) · acme_auth \
(private repo 'hexpm:acme')"""
    if backend == "oanor":
        expected = expected.replace("0 vulnerable, 0 retired, ", "") + (
            "\nretirements and advisories: not available via the gateway"
        )
    assert body(text) == expected
    tiny = next(r for r in data["rows"] if r["name"] == "tiny_slug")
    # the retired 0.2.0 is never the pick: Mix would resolve ~> 0.2.0 to 0.2.1
    facts = (tiny["requirement"], tiny["highest_in_requirement"], tiny["checked"])
    assert facts == ("~> 0.2.0", "0.2.1", "0.2.1")


async def test_one_failing_dep_does_not_sink_the_others(client: Client, fake: FakeUpstream) -> None:
    fake.add_fault(Fault("status", "/api/packages/jason", status=503))
    text, data = await outdated(client, "jason 1.4.4\nphoenix 1.8.7\nplug 1.18.1\n")
    lines = text.splitlines()
    assert lines[0] == (
        "lines · 3 deps checked: 0 vulnerable, 0 retired, 0 major, 0 minor, 0 patch, 2 current, 1 failed"
    )
    assert lines[1] == "up to date (2): phoenix, plug"
    assert lines[2] == "lookup failed (1):"
    assert lines[3].startswith("- jason: hex.pm failed on its side (HTTP 503)")
    assert next(r for r in data["rows"] if r["name"] == "jason")["status"] == "error"


async def test_every_lookup_failing_still_answers(client: Client, fake: FakeUpstream) -> None:
    fake.add_fault(Fault("status", "/api/packages/", status=503))
    text, data = await outdated(client, "jason 1.4.4\nplug 1.18.1\n")
    assert text.splitlines()[1:] == [
        "lookup failed (2):",
        f"- jason, plug: {data['rows'][0]['note']}",
        "source: hex.pm · no lookup succeeded",
    ]
    assert data["freshness"] is None


@pytest.mark.parametrize(
    ("deps", "needle"),
    [
        ("   \n  ", "deps is empty: paste a mix.lock, the deps list of a mix.exs, or lines such as"),
        ("this is not a lock file at all!", "deps could not be read: no Hex dependency could be read"),
        ('%{\n  "jason": {:hex, :jason,', "deps could not be read:"),
        ("x" * 200_001, "deps is 200001 characters long; the limit is 200000"),
    ],
)
async def test_unreadable_input(client: Client, fake: FakeUpstream, deps: str, needle: str) -> None:
    assert needle in await outdated_error(client, deps)
    assert fake.count() == 0


async def test_only_skipped_deps_is_an_answer_not_an_error(client: Client, fake: FakeUpstream) -> None:
    deps = '[{:heroicons, github: "tailwindlabs/heroicons"}, {:shared, path: "../x"}]'
    text, _ = await outdated(client, deps)
    assert text.splitlines()[0] == (
        "mix.exs · 0 deps checked: 0 vulnerable, 0 retired, 0 major, 0 minor, 0 patch, 0 current · 2 skipped"
    )
    assert "source: hex.pm · no lookup succeeded" in text
    assert fake.count() == 0


async def test_forty_dep_lock_fits_the_budget(client: Client, fake: FakeUpstream) -> None:
    # every dependency at its oldest stable release: no "up to date" line to collapse, the worst case
    worst = synthetic_lock(lambda stable: stable[-1])
    text, data = await outdated(client, worst)
    assert data["checked"] == 40
    assert data["counts"].get("current", 0) == 0
    assert tokens(text) <= OUTDATED_BUDGET, tokens(text)
    typical = synthetic_lock(lambda stable: stable[min(1, len(stable) - 1)])
    text, data = await outdated(client, typical)
    assert data["checked"] == 40
    assert tokens(text) <= OUTDATED_BUDGET, tokens(text)


# -- the service: concurrency -------------------------------------------------------------------------------


async def test_lookups_run_concurrently_but_bounded(
    make_settings: Callable[..., Settings], fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add_fault(Fault("delay", "/api/packages/", seconds=0.05))
    hex_service = HexService(make_settings("hexpm"))
    in_flight = peak = 0
    original = hex_service.upstream.get

    async def counting_get(*args: Any, **kwargs: Any) -> Any:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await original(*args, **kwargs)
        finally:
            in_flight -= 1

    monkeypatch.setattr(hex_service.upstream, "get", counting_get)
    try:
        with anyio.fail_after(20):
            view = await hex_service.outdated(synthetic_lock(lambda stable: stable[0], count=20))
    finally:
        await hex_service.aclose()
    assert view.checked == 20
    assert 1 < peak <= OUTDATED_CONCURRENCY


# -- pure pieces ---------------------------------------------------------------------------------------------

LIVE = Freshness(source="oanor", fetched_at="2026-11-25T10:00:00Z", age_seconds=0, from_cache=False)


def test_format_every_kind_of_row() -> None:
    advisory = Advisory(
        id="GHSA-xxxx-yyyy-zzzz",
        summary="A very long summary that goes on and on about the many ways in which the parser can be "
        "tricked into reading beyond the end",
        severity="critical",
        affected=["< 2.0.0"],
    )
    view = OutdatedView(
        input_format="lines",
        source="hexpm",
        checked=6,
        counts={"vulnerable": 1, "retired": 1, "unresolved": 1, "current": 1, "error": 2},
        rows=[
            OutdatedRow(
                name="acme",
                status="vulnerable",
                current="1.2.0",
                checked="1.2.0",
                latest_stable="1.2.0",
                advisories=[advisory],
                note="1.2.0 is not a published release",
            ),
            OutdatedRow(
                name="old_thing",
                status="retired",
                requirement="~> 0.1",
                checked="0.1.9",
                latest_stable="0.2.0",
                update="minor",
                retirement=Retirement(reason="deprecated"),
            ),
            OutdatedRow(
                name="gone",
                status="unresolved",
                requirement="~> 3.0",
                latest_stable="2.4.1",
                note="no release matches ~> 3.0",
            ),
            OutdatedRow(
                name="fine", status="current", current="1.0.0", checked="1.0.0", latest_stable="1.0.0"
            ),
            OutdatedRow(name="down_a", status="error", current="1.0.0", note="hex.pm failed on its side"),
            OutdatedRow(name="down_b", status="error", current="2.0.0", note="hex.pm failed on its side"),
        ],
        skipped=[SkippedDepView(name=n, reason="git dependency") for n in ("x", "y")],
        retirements_known=True,
        advisories_known=True,
        live_lookups=4,
        cached_lookups=0,
        freshness=LIVE,
    )
    assert (
        render.outdated(view)
        == """\
lines · 6 deps checked: 1 vulnerable, 1 retired, 0 major, 0 minor, 0 patch, 1 unresolved, 1 current, \
2 failed · 2 skipped
vulnerable (1):
- acme 1.2.0 · GHSA-xxxx-yyyy-zzzz critical: A very long summary that goes on and on about the many ways \
in which the parser … · no fixed release yet · 1.2.0 is not a published release
retired (1):
- old_thing ~> 0.1 = 0.1.9 → 0.2.0 minor · outside ~> 0.1 · RETIRED (deprecated)
unresolved (1):
- gone ~> 3.0 · no release matches ~> 3.0 · latest 2.4.1
up to date (1): fine
lookup failed (2):
- down_a, down_b: hex.pm failed on its side
skipped, not on public Hex (2): x, y (git dependency)
source: Hex API gateway · live · lookups: 4 live, 0 cached"""
    )


def test_prerelease_to_final_counts_as_patch() -> None:
    from hex_mcp.deps_input import DepSpec
    from hex_mcp.models import Package, ReleaseRef

    pkg = Package(
        name="acme",
        releases=[ReleaseRef(version="1.0.0"), ReleaseRef(version="1.0.0-rc.1")],
        latest_stable_version="1.0.0",
        advisories=[],
    )
    row = upgrade.outdated_row(DepSpec("acme", "1.0.0-rc.1", None, "lines"), pkg)
    assert (row.status, row.update) == ("patch", "pre")
    assert render._outdated_row(row) == "acme 1.0.0-rc.1 → 1.0.0 pre-release → final"


def test_fixed_in_skips_retired_and_still_affected_releases() -> None:
    from hex_mcp.deps_input import DepSpec
    from hex_mcp.models import Package, ReleaseRef

    advisories = [
        Advisory(id="A", affected=["< 1.2.0"]),
        Advisory(id="B", affected=[">= 1.2.0 and < 1.3.0", "not a requirement"]),
    ]
    releases = ["1.4.0", "1.3.0", "1.2.1", "1.2.0", "1.1.0"]
    pkg = Package(
        name="acme",
        releases=[
            ReleaseRef(version=v, retirement=Retirement(reason="security") if v == "1.3.0" else None)
            for v in releases
        ],
        latest_stable_version="1.4.0",
        advisories=advisories,
    )
    row = upgrade.outdated_row(DepSpec("acme", "1.1.0", None, "mix.lock"), pkg)
    assert [a.id for a in row.advisories or []] == ["A"]
    assert row.fixed_in == "1.4.0"  # 1.2.x are hit by B, 1.3.0 is retired


async def test_schema_advertises_the_input_bound(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    deps = tools["hex_outdated"].input_schema["properties"]["deps"]
    assert (deps["type"], deps["minLength"], deps["maxLength"]) == ("string", 1, 200_000)
    assert tools["hex_outdated"].annotations is not None
    assert tools["hex_outdated"].annotations.read_only_hint is True


def _package(releases: dict[str, Retirement | None], advisories: list[Advisory] | None = None) -> Any:
    from hex_mcp.models import Package, ReleaseRef

    return Package(
        name="acme",
        releases=[ReleaseRef(version=v, retirement=r) for v, r in releases.items()],
        latest_stable_version=next(iter(releases)),
        advisories=[] if advisories is None else advisories,
    )


SECURITY = Retirement(reason="security", message="CVE-2026-0001, use 1.7.0")
RETIRED_MATCH = {"1.7.0": None, "1.6.0": SECURITY, "1.5.2": None}


def test_requirement_matching_only_retired_releases_names_the_retired_match() -> None:
    from hex_mcp.deps_input import DepSpec

    row = upgrade.outdated_row(DepSpec("acme", None, "~> 1.6.0", "mix.exs"), _package(RETIRED_MATCH))
    assert (row.status, row.checked, row.highest_in_requirement, row.update) == (
        "retired",
        "1.6.0",
        "1.6.0",
        "minor",
    )
    assert row.retirement == SECURITY
    assert row.note == "only retired releases match ~> 1.6.0"
    assert render._outdated_row(row) == (
        "acme ~> 1.6.0 = 1.6.0 → 1.7.0 minor · outside ~> 1.6.0 · RETIRED (security issue: CVE-2026-0001, use 1.7.0)"
        " · only retired releases match ~> 1.6.0"
    )
    # Sorted with the problems, not among the unresolved rows.
    fine = upgrade.outdated_row(DepSpec("zzz", None, "~> 1.7", "mix.exs"), _package(RETIRED_MATCH))
    gone = upgrade.outdated_row(DepSpec("aaa", None, "~> 9.0", "mix.exs"), _package(RETIRED_MATCH))
    assert [r.status for r in upgrade.sort_outdated([fine, gone, row])] == [
        "retired",
        "unresolved",
        "current",
    ]


def test_retired_only_match_that_an_advisory_hits_is_vulnerable() -> None:
    from hex_mcp.deps_input import DepSpec

    advisory = Advisory(id="GHSA-aaaa-bbbb-cccc", affected=[">= 1.6.0 and < 1.7.0"])
    row = upgrade.outdated_row(
        DepSpec("acme", None, "~> 1.6.0", "mix.exs"), _package(RETIRED_MATCH, [advisory])
    )
    assert (row.status, row.checked, row.fixed_in) == ("vulnerable", "1.6.0", "1.7.0")
    assert row.retirement == SECURITY


def test_requirement_matching_nothing_is_still_unresolved() -> None:
    from hex_mcp.deps_input import DepSpec

    row = upgrade.outdated_row(DepSpec("acme", None, "~> 2.0", "mix.exs"), _package(RETIRED_MATCH))
    assert (row.status, row.checked, row.highest_in_requirement, row.retirement) == (
        "unresolved",
        None,
        None,
        None,
    )
    assert row.note == "no release matches ~> 2.0"


def test_locked_version_never_published_has_its_own_status() -> None:
    from hex_mcp.deps_input import DepSpec

    row = upgrade.outdated_row(DepSpec("acme", "1.6.5", None, "mix.lock"), _package(RETIRED_MATCH))
    assert (row.status, row.checked, row.update, row.latest_stable) == (
        "unpublished",
        "1.6.5",
        "minor",
        "1.7.0",
    )
    assert row.note == "1.6.5 is not a published release"
    assert render._outdated_row(row) == "acme 1.6.5 → 1.7.0 minor · 1.6.5 is not a published release"
    # Even at the latest version's number, an unpublished version is not "up to date".
    latest = upgrade.outdated_row(DepSpec("acme", "1.7.0", None, "mix.lock"), _package({"1.7.1-rc.0": None}))
    assert latest.status == "unpublished"
    order = upgrade.sort_outdated(
        [
            upgrade.outdated_row(DepSpec("b", "1.5.2", None, "mix.lock"), _package(RETIRED_MATCH)),
            row,
            upgrade.outdated_row(DepSpec("c", "1.6.0", None, "mix.lock"), _package(RETIRED_MATCH)),
        ]
    )
    assert [(r.name, r.status) for r in order] == [("c", "retired"), ("acme", "unpublished"), ("b", "minor")]


def test_unpublished_version_an_advisory_covers_is_vulnerable_and_keeps_the_note() -> None:
    from hex_mcp.deps_input import DepSpec

    advisory = Advisory(id="GHSA-aaaa-bbbb-cccc", affected=["< 1.7.0"])
    row = upgrade.outdated_row(
        DepSpec("acme", "1.6.5", None, "mix.lock"), _package(RETIRED_MATCH, [advisory])
    )
    assert (row.status, row.note, row.fixed_in) == ("vulnerable", "1.6.5 is not a published release", "1.7.0")


def test_unknown_version_with_a_partial_release_list_is_not_called_unpublished() -> None:
    from hex_mcp.deps_input import DepSpec
    from hex_mcp.models import Package, ReleaseRef

    # The gateway lists recent releases only: an older locked version may well exist.
    pkg = Package(
        name="acme",
        releases=[ReleaseRef(version="2.0.0")],
        latest_stable_version="2.0.0",
        releases_complete=False,
    )
    row = upgrade.outdated_row(DepSpec("acme", "1.0.0", None, "mix.lock"), pkg)
    assert (row.status, row.note) == ("major", None)
