"""hex_diff: what changes between two releases, through the MCP protocol against the fake upstream."""

from __future__ import annotations

import re
from typing import Any

import pytest
from mcp import Client

from fakehex.upstream import FakeUpstream
from hex_mcp import render
from hex_mcp.models import (
    Advisory,
    DepChange,
    Dependency,
    DiffView,
    Freshness,
    Package,
    Release,
    ReleaseRef,
    Retirement,
)
from hex_mcp.upgrade import build_diff
from tests.helpers import tokens

pytestmark = pytest.mark.anyio

FRESHNESS_LINE = re.compile(
    r"source: (hex\.pm|Hex API gateway) · (live|cached \d+[smhd] ago)( \(fetched \S+Z\))?"
)
DIFF_BUDGET = 350  # o200k tokens for one diff answer without its changelog part, advisories included
CHANGELOG_BUDGET = 1_200  # hex_diff's default max_tokens, the changelog part's own budget


def body(text: str) -> str:
    """The answer without its last line, which carries a fetch time; that line's shape is checked instead."""
    head, _, last = text.rpartition("\n")
    assert FRESHNESS_LINE.fullmatch(last), last
    return head


async def diff(client: Client, **args: Any) -> tuple[str, dict[str, Any]]:
    result = await client.call_tool("hex_diff", args)
    assert result.is_error is False, result.content
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.structured_content is not None
    return text, result.structured_content


async def diff_error(client: Client, **args: Any) -> str:
    result = await client.call_tool("hex_diff", args)
    assert result.is_error is True
    text: str = result.content[0].text  # type: ignore[union-attr]
    return text


PHOENIX_HEXPM = """\
phoenix 1.7.14 → 1.8.7 · minor upgrade
published: 2024-06-18 → 2026-05-06 · 19 releases in between (5 pre)
deps: 1 added, 1 removed, 0 changed, 9 unchanged
+ bandit >= 0.7.0 optional
- castore >= 0.0.0
elixir: ~> 1.11 → ~> 1.15 · build: mix (unchanged)
retired: neither
advisories: none affect either version
code diff: https://diff.hex.pm/diff/phoenix/1.7.14..1.8.7
changelog: not shown — the Hex repository has no tarball for phoenix 1.8.7 · see Changelog: \
https://hexdocs.pm/phoenix/changelog.html"""

PHOENIX_GATEWAY = """\
phoenix 1.7.14 → 1.8.7 · minor upgrade
published: 2024-06-18 → 2026-05-06 · 19 releases in between (5 pre)
deps: 1 added, 1 removed, 0 changed, 9 unchanged
+ bandit >= 0.7.0 optional
- castore >= 0.0.0
elixir: ~> 1.11 → ~> 1.15 · build: mix (unchanged)
retirement: not available via the gateway
advisories: not available via the gateway
code diff: https://diff.hex.pm/diff/phoenix/1.7.14..1.8.7
changelog: not shown — the Hex repository has no tarball for phoenix 1.8.7 · see Changelog: \
https://hexdocs.pm/phoenix/changelog.html"""


async def test_phoenix_minor_upgrade_both_backends(backend_client: Client, backend: str) -> None:
    text, data = await diff(backend_client, name="phoenix", from_version="1.7.14", to_version="1.8.7")
    assert body(text) == (PHOENIX_HEXPM if backend == "hexpm" else PHOENIX_GATEWAY)
    assert data["direction"] == "upgrade"
    assert data["update_kind"] == "minor"
    assert [d["name"] for d in data["deps_added"]] == ["bandit"]
    assert [d["name"] for d in data["deps_removed"]] == ["castore"]
    assert data["advisories_known"] is (backend == "hexpm")
    # The link and the caller's own arguments are in the text only: a program builds or has them.
    assert "diff_url" not in data and "from_requested" not in data


async def test_advisory_fixed_by_upgrading_to_latest(client: Client) -> None:
    text, data = await diff(client, name="hackney", from_version="1.23.0")
    assert (
        body(text)
        == """\
hackney 1.23.0 → 1.25.0 · minor upgrade
resolved: "latest" → 1.25.0
published: 2025-03-04 → 2025-07-24 · 2 releases in between
deps: no change (7)
elixir: any (unchanged) · build: rebar3 (unchanged)
retired: neither
advisories fixed by moving to 1.25.0 (1):
- EEF-CVE-2025-1211 (CVE-2025-1211) high — Server-side request forgery in hackney through inconsistent URL \
parsing · affects < 1.24.0 https://osv.dev/vulnerability/EEF-CVE-2025-1211
code diff: https://diff.hex.pm/diff/hackney/1.23.0..1.25.0
changelog: not shown — the Hex repository has no tarball for hackney 1.25.0 · see GitHub: https://github.com/benoitc/hackney"""
    )
    assert [a["id"] for a in data["advisories_fixed"]] == ["EEF-CVE-2025-1211"]
    assert data["advisories_introduced"] == []
    assert data["to_version"] == "1.25.0" and "to_requested" not in data


async def test_downgrade_to_a_requirement_is_still_diffed(client: Client) -> None:
    text, data = await diff(client, name="phoenix", from_version="1.8.7", to_version="~> 1.7.0")
    assert (
        body(text)
        == """\
phoenix 1.8.7 → 1.7.21 · DOWNGRADE (minor step back)
resolved: "~> 1.7.0" → 1.7.21
published: 2026-05-06 → 2025-03-28 · 12 releases in between (5 pre)
deps: 1 added, 1 removed, 0 changed, 9 unchanged
+ castore >= 0.0.0
- bandit >= 0.7.0 optional
elixir: ~> 1.15 → ~> 1.11 · build: mix (unchanged)
retired: neither
advisories: none affect either version
code diff: https://diff.hex.pm/diff/phoenix/1.8.7..1.7.21
changelog: not shown — the Hex repository has no tarball for phoenix 1.8.7 · see Changelog: \
https://hexdocs.pm/phoenix/changelog.html"""
    )
    assert data["direction"] == "downgrade"


async def test_retired_start_and_prerelease_target(client: Client) -> None:
    text, _ = await diff(client, name="tiny_slug", from_version="0.2.0", to_version="0.3.0-rc.1")
    assert (
        body(text)
        == """\
tiny_slug 0.2.0 → 0.3.0-rc.1 (pre-release) · minor upgrade
published: 2023-06-11 → 2024-11-18 · 1 release in between · latest stable: 0.2.1
deps: none
elixir: ~> 1.12 (unchanged) · build: mix (unchanged)
retired: 0.2.0 RETIRED (release invalid: unicode handling bug, use 0.2.1) · 0.3.0-rc.1 no
advisories: none affect either version
code diff: https://diff.hex.pm/diff/tiny_slug/0.2.0..0.3.0-rc.1
changelog: not shown — the Hex repository has no tarball for tiny_slug 0.3.0-rc.1 · see GitHub: https://github.com/example/tiny_slug"""
    )


async def test_releases_in_between_count_retired_ones(client: Client) -> None:
    text, data = await diff(client, name="tiny_slug", from_version="0.1.0", to_version="latest")
    assert "published: 2023-03-02 → 2023-09-05 · 1 release in between (1 retired)" in text
    assert (data["releases_between"], data["retired_between"]) == (1, 1)


async def test_requirement_as_from_version(client: Client) -> None:
    text, data = await diff(client, name="phoenix", from_version="~> 1.6.0", to_version="1.7.14")
    assert data["from_version"] == "1.6.16"
    assert 'resolved: "~> 1.6.0" → 1.6.16' in text


async def test_diff_reads_three_documents_then_answers_from_cache(client: Client, fake: FakeUpstream) -> None:
    await diff(client, name="phoenix", from_version="1.7.14", to_version="1.8.7")
    # the package document (release list + advisories) and the two release documents
    assert fake.count("/api/packages/phoenix") == 3
    text, _ = await diff(client, name="phoenix", from_version="1.7.14", to_version="1.8.7")
    assert fake.count("/api/packages/phoenix") == 3
    assert "cached" in text.rsplit("\n", 1)[1]


async def test_diff_fits_the_token_budget(client: Client) -> None:
    """The metadata part keeps its budget; the changelog part, appended before the source line, has its own
    (max_tokens, 1,200 by default), so the whole answer is bounded by their sum."""
    for args in (
        {"name": "phoenix", "from_version": "1.7.14", "to_version": "1.8.7"},
        {"name": "hackney", "from_version": "1.23.0"},
        {"name": "quillmark", "from_version": "1.6.0"},
        {"name": "brightwire", "from_version": "1.7.2", "max_tokens": 150},
    ):
        text, data = await diff(client, **args)
        head, _, changelog = text.partition("\nchangelog")
        source = text.rsplit("\n", 1)[1]
        part = ("changelog" + changelog).removesuffix("\n" + source)
        assert tokens(head + "\n" + source) <= DIFF_BUDGET, text
        assert tokens(part) <= args.get("max_tokens", CHANGELOG_BUDGET), part
        assert tokens(text) <= DIFF_BUDGET + CHANGELOG_BUDGET, text
        assert data["changelog"]["max_tokens"] == args.get("max_tokens", CHANGELOG_BUDGET)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            {"from_version": "1.7.14", "to_version": "1.7.14"},
            "from_version and to_version are both '1.7.14': give two different versions to compare.",
        ),
        (
            {"from_version": "1.8.7", "to_version": "latest"},
            "from_version '1.8.7' and to_version 'latest' both resolve to phoenix 1.8.7: nothing to compare.",
        ),
        (
            {"from_version": "latest", "to_version": "1.8.7"},
            "'latest' is accepted only for to_version.",
        ),
        (
            {"from_version": "1.7.99", "to_version": "1.8.7"},
            "phoenix has no release 1.7.99. Nearest existing versions: 1.7.20, 1.7.21, 1.8.0-rc.0, "
            "1.8.0-rc.1.",
        ),
        (
            {"from_version": "~> 9.0", "to_version": "1.8.7"},
            "phoenix has no release ~> 9.0.",
        ),
        ({"from_version": "v1.7.14"}, "from_version='v1.7.14' is not a version, 'latest', or a requirement."),
        ({"from_version": "1.7"}, "'1.7' is not a version"),
    ],
)
async def test_bad_versions(client: Client, args: dict[str, str], needle: str) -> None:
    assert needle in await diff_error(client, name="phoenix", **args)


async def test_unknown_package_and_bad_name(client: Client, fake: FakeUpstream) -> None:
    text = await diff_error(client, name="no_such_pkg", from_version="1.0.0", to_version="2.0.0")
    assert text.endswith(
        "No package 'no_such_pkg' on Hex. Package names are exact and lower-case; try hex_search "
        "with q='no_such_pkg' to find the right name."
    )
    fake.reset()
    assert "Did you mean 'phoenix'?" in await diff_error(client, name="phoenix ", from_version="1.0.0")
    assert fake.count() == 0


# -- pure formatter ------------------------------------------------------------------------------------------

CACHED = Freshness(source="hexpm", fetched_at="2026-11-25T09:55:00Z", age_seconds=300, from_cache=True)
ADVISORY = Advisory(
    id="GHSA-aaaa-bbbb-cccc",
    summary="Header injection",
    severity="medium",
    affected=[">= 2.0.0 and < 2.1.3"],
    url="https://github.com/advisories/GHSA-aaaa-bbbb-cccc",
)
OLD_ADVISORY = Advisory(id="EEF-CVE-2024-0001", severity="low", affected=["< 2.0.5"])


def _diff_view(**overrides: Any) -> DiffView:
    fields: dict[str, Any] = {
        "name": "acme",
        "from_version": "2.0.4",
        "to_version": "2.1.0",
        "direction": "upgrade",
        "update_kind": "minor",
        "from_published": "2024-01-02",
        "to_published": "2024-06-30",
        "latest_stable_version": "2.1.5",
        "releases_between": None,
        "prereleases_between": None,
        "retired_between": None,
        "deps_added": [],
        "deps_removed": [],
        "deps_changed": [
            DepChange(
                name="plug",
                from_requirement="~> 1.14",
                to_requirement="~> 1.16",
                from_optional=False,
                to_optional=False,
            ),
            DepChange(
                name="jason",
                from_requirement="~> 1.0",
                to_requirement="~> 1.0",
                from_optional=False,
                to_optional=True,
            ),
        ],
        "deps_unchanged": 2,
        "elixir_from": None,
        "elixir_to": "~> 1.14",
        "build_tools_from": ["mix"],
        "build_tools_to": ["mix", "rebar3"],
        "retirements_known": True,
        "from_retirement": None,
        "to_retirement": Retirement(reason="security", message="use 2.1.5"),
        "advisories_known": True,
        "advisories_fixed": [OLD_ADVISORY],
        "advisories_introduced": [],
        "advisories_unfixed": [ADVISORY],
        "diff_url": "https://diff.hex.pm/diff/acme/2.0.4..2.1.0",
        "freshness": CACHED,
    }
    fields.update(overrides)
    return DiffView(**fields)


def test_format_changed_deps_tools_retirement_and_advisories() -> None:
    assert (
        render.diff(_diff_view())
        == """\
acme 2.0.4 → 2.1.0 · minor upgrade
published: 2024-01-02 → 2024-06-30 · releases in between: unknown (the release list is incomplete) · \
latest stable: 2.1.5
deps: 0 added, 0 removed, 2 changed, 2 unchanged
~ plug ~> 1.14 → ~> 1.16 · jason now optional
elixir: any → ~> 1.14 · build: mix → mix, rebar3
retired: 2.0.4 no · 2.1.0 RETIRED (security issue: use 2.1.5)
advisories fixed by moving to 2.1.0 (1):
- EEF-CVE-2024-0001 low · affects < 2.0.5
advisories affecting both (1):
- GHSA-aaaa-bbbb-cccc medium — Header injection · affects >= 2.0.0 and < 2.1.3 \
https://github.com/advisories/GHSA-aaaa-bbbb-cccc
code diff: https://diff.hex.pm/diff/acme/2.0.4..2.1.0
source: hex.pm · cached 5m ago"""
    )


def test_format_introduced_advisory_on_downgrade_and_no_deps_at_all() -> None:
    view = _diff_view(
        from_version="2.1.0",
        to_version="2.0.4",
        direction="downgrade",
        releases_between=3,
        prereleases_between=1,
        retired_between=0,
        deps_changed=[],
        deps_unchanged=0,
        deps_added=[Dependency(name="mime", requirement="~> 2.0", optional=True, app="mime_types")],
        to_retirement=None,
        advisories_fixed=[],
        advisories_introduced=[OLD_ADVISORY],
        advisories_unfixed=[],
        latest_stable_version="2.1.0",
    )
    text = render.diff(view)
    assert text.splitlines()[:4] == [
        "acme 2.1.0 → 2.0.4 · DOWNGRADE (minor step back)",
        "published: 2024-01-02 → 2024-06-30 · 3 releases in between (1 pre)",
        "deps: 1 added, 0 removed, 0 changed, 0 unchanged",
        "+ mime ~> 2.0 optional (app mime_types)",
    ]
    assert "advisories introduced by 2.0.4 (1):\n- EEF-CVE-2024-0001 low · affects < 2.0.5" in text
    assert "retired: neither" in text


def test_format_gateway_diff_says_what_it_cannot_know() -> None:
    view = _diff_view(
        retirements_known=False,
        to_retirement=None,
        advisories_known=False,
        advisories_fixed=[],
        advisories_unfixed=[],
        deps_changed=[],
        deps_unchanged=0,
        freshness=CACHED.model_copy(update={"source": "oanor"}),
    )
    text = render.diff(view)
    assert "deps: none\n" in text
    assert "retirement: not available via the gateway\nadvisories: not available via the gateway\n" in text


def test_format_hexpm_diff_without_advisory_data_blames_no_gateway() -> None:
    view = _diff_view(advisories_known=False, advisories_fixed=[], advisories_unfixed=[])
    assert "gateway" not in render.diff(view)


def test_format_diff_without_build_facts_leaves_the_elixir_line_out() -> None:
    # Registry facts only (the API release documents were unreadable): no "elixir: any" that would be a guess.
    view = _diff_view(
        elixir_to=None,
        build_tools_from=[],
        build_tools_to=[],
        build_facts_known=False,
        deps_changed=[],
        advisories_fixed=[],
        advisories_unfixed=[],
        to_retirement=None,
    )
    assert render.diff(view).splitlines()[2:5] == [
        "deps: no change (2)",
        "retired: neither",
        "advisories: none affect either version",
    ]


def test_build_diff_knows_build_facts_only_from_api_documents() -> None:
    pkg = Package(name="acme", releases=[ReleaseRef(version="1.0.0"), ReleaseRef(version="1.1.0")])
    registry_only = [Release(package="acme", version=v) for v in ("1.0.0", "1.1.0")]
    with_api = [r.model_copy(update={"build_tools": ["mix"]}) for r in registry_only]
    facts = [
        build_diff(pkg, *pair, from_requested=None, to_requested=None, freshness=CACHED).build_facts_known
        for pair in (registry_only, with_api)
    ]
    assert facts == [False, True]
