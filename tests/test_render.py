"""Formatters are pure: a view in, exact text out."""

from __future__ import annotations

import pytest

from hex_mcp import render
from hex_mcp.models import (
    Advisory,
    Dependency,
    Downloads,
    Freshness,
    GatewayMeta,
    MetaView,
    PackageView,
    PlanChange,
    PlanHeld,
    PlanView,
    RateLimitInfo,
    Release,
    ReleaseRef,
    ReleasesView,
    ReleaseView,
    Retirement,
    SearchHit,
    SearchView,
)

LIVE = Freshness(source="hexpm", fetched_at="2026-11-25T10:00:00Z", age_seconds=0, from_cache=False)
CACHED = Freshness(source="oanor", fetched_at="2026-11-25T09:55:00Z", age_seconds=300, from_cache=True)
STALE = Freshness(
    source="hexpm",
    fetched_at="2026-11-23T10:00:00Z",
    age_seconds=2 * 86_400 + 60,
    from_cache=True,
    stale_reason="hex.pm failed on its side (HTTP 503)",
)


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, "?"),
        (0, "0"),
        (412, "412"),
        (17151, "17.2K"),
        (1000, "1K"),
        (279074, "279.1K"),
        (150117848, "150.1M"),
        (2_000_000_000, "2B"),
    ],
)
def test_humanize(n: int | None, text: str) -> None:
    assert render.humanize(n) == text


@pytest.mark.parametrize(
    ("freshness", "line"),
    [
        (LIVE, "source: hex.pm · live"),
        (CACHED, "source: Hex API gateway · cached 5m ago"),
        (
            STALE,
            "source: hex.pm · STALE cache, 2d old — live call failed: hex.pm failed on its side (HTTP 503)",
        ),
    ],
)
def test_freshness_line(freshness: Freshness, line: str) -> None:
    assert render.freshness_line(freshness) == line


def _package_view(**overrides: object) -> PackageView:
    fields: dict[str, object] = {
        "name": "tiny_slug",
        "description": "Tiny URL slug generator.",
        "licenses": ["MIT"],
        "links": {"GitHub": "https://github.com/example/tiny_slug"},
        "owners": ["jdoe"],
        "downloads": Downloads(all=412, recent=57),
        "latest_stable_version": "0.2.1",
        "latest_prerelease": "0.3.0-rc.1",
        "release_count": 4,
        "recent_releases": [
            ReleaseRef(version="0.3.0-rc.1", published="2024-11-18", has_docs=False),
            ReleaseRef(version="0.2.1", published="2023-09-05", has_docs=True),
            ReleaseRef(
                version="0.2.0",
                published="2023-06-11",
                retirement=Retirement(reason="invalid", message="unicode handling bug, use 0.2.1"),
            ),
        ],
        "retired_count": 1,
        "advisories": [],
        "inserted": "2023-03-02",
        "updated": "2024-11-18",
        "html_url": "https://hex.pm/packages/tiny_slug",
        "docs_url": "https://tiny-slug.hexdocs.pm/",
        "mix_snippet": '{:tiny_slug, "~> 0.2.1"}',
        "rebar_snippet": '{tiny_slug, "0.2.1"}',
        "freshness": LIVE,
    }
    fields.update(overrides)
    return PackageView.model_validate(fields)


def test_package_text() -> None:
    assert render.package(_package_view()) == (
        "tiny_slug — Tiny URL slug generator.\n"
        "latest stable: 0.2.1 (2023-09-05) · newer pre-release: 0.3.0-rc.1 (not stable)\n"
        "releases: 4, 1 retired · newest: 0.3.0-rc.1 (2024-11-18), 0.2.1 (2023-09-05), "
        "0.2.0 (2023-06-11, RETIRED (release invalid: unicode handling bug, use 0.2.1))\n"
        '+1 more — call hex_releases with name="tiny_slug"\n'
        "downloads: 412 all · 57 last 90d\n"
        "licenses: MIT\n"
        "owners: jdoe\n"
        "links: GitHub https://github.com/example/tiny_slug\n"
        'docs https://tiny-slug.hexdocs.pm/ · mix.exs {:tiny_slug, "~> 0.2.1"}\n'
        "advisories: none\n"
        "created 2023-03-02 · updated 2024-11-18\n"
        "source: hex.pm · live"
    )


def test_package_text_from_gateway_says_what_it_cannot_know() -> None:
    view = _package_view(
        owners=None,
        retired_count=None,
        advisories=None,
        mix_snippet=None,
        rebar_snippet=None,
        freshness=CACHED,
        latest_prerelease=None,
        recent_releases=[ReleaseRef(version="0.2.1", published="2023-09-05")],
        release_count=4,
        links={},
        downloads=Downloads(),
        html_url=None,
        docs_url=None,
        inserted=None,
        updated=None,
    )
    assert render.package(view) == (
        "tiny_slug — Tiny URL slug generator.\n"
        "latest stable: 0.2.1 (2023-09-05)\n"
        "releases: 4 · newest: 0.2.1 (2023-09-05)\n"
        '+3 more — call hex_releases with name="tiny_slug"\n'
        "downloads: no downloads counted\n"
        "licenses: MIT\n"
        "retirements: not available via the gateway\n"
        "advisories: not available via the gateway\n"
        "source: Hex API gateway · cached 5m ago"
    )


def test_package_text_lists_advisories() -> None:
    advisory = Advisory(
        id="EEF-CVE-2025-1211",
        summary="Header injection",
        severity="high",
        affected=["< 1.24.0"],
        aliases=["CVE-2025-1211"],
        url="https://hex.pm/advisories/x",
    )
    text = render.package(_package_view(advisories=[advisory]))
    assert (
        "advisories (1):\n- EEF-CVE-2025-1211 (CVE-2025-1211) high — Header injection · affects < 1.24.0 "
        "https://hex.pm/advisories/x\n"
    ) in text


def _releases_view(**overrides: object) -> ReleasesView:
    fields: dict[str, object] = {
        "name": "tiny_slug",
        "total": 4,
        "shown": 2,
        "latest_stable_version": "0.2.1",
        "latest_prerelease": "0.3.0-rc.1",
        "retirements_known": True,
        "releases": [
            ReleaseRef(version="0.3.0-rc.1", published="2024-11-18"),
            ReleaseRef(version="0.2.1", published="2023-09-05"),
        ],
        "freshness": LIVE,
    }
    fields.update(overrides)
    return ReleasesView.model_validate(fields)


def test_releases_text_groups_by_year_and_bounds_the_list() -> None:
    assert render.releases(_releases_view()) == (
        "tiny_slug: 4 releases · latest stable: 0.2.1 · newer pre-release: 0.3.0-rc.1 (not stable)\n"
        "newest 2, by year:\n"
        "2024: 0.3.0-rc.1 Nov 18\n"
        "2023: 0.2.1 Sep 5\n"
        '+2 more — call hex_releases with name="tiny_slug", limit=4\n'
        "source: hex.pm · live"
    )


def test_releases_text_with_requirement() -> None:
    view = _releases_view(
        requirement="~> 0.2.0",
        matching=2,
        highest_match="0.2.1",
        shown=2,
        latest_prerelease=None,
        releases=[
            ReleaseRef(version="0.2.1", published="2023-09-05"),
            ReleaseRef(version="0.2.0", published="2023-06-11", retirement=Retirement(reason="invalid")),
        ],
    )
    assert render.releases(view) == (
        "tiny_slug: 4 releases · 2 match ~> 0.2.0 · highest non-retired match: 0.2.1 · latest stable: 0.2.1\n"
        "all, by year:\n"
        "2023: 0.2.1 Sep 5, 0.2.0 Jun 11 RETIRED (release invalid)\n"
        "source: hex.pm · live"
    )


def test_releases_text_from_gateway() -> None:
    view = _releases_view(retirements_known=False, total=2, freshness=CACHED, latest_prerelease=None)
    assert render.releases(view).splitlines()[-2:] == [
        "retirements: not available via the gateway",
        "source: Hex API gateway · cached 5m ago",
    ]


def _release(**overrides: object) -> Release:
    fields: dict[str, object] = {
        "package": "phoenix",
        "version": "1.7.14",
        "published": "2024-06-18",
        "checksum": "c7859bc56cc5dfef19ecfc240775dae358cbaa530231118a9e014df392ace61a",
        "elixir_requirement": "~> 1.11",
        "build_tools": ["mix"],
        "dependencies": [
            Dependency(name="castore", requirement=">= 0.0.0", app="castore"),
            Dependency(name="jason", requirement="~> 1.0", optional=True, app="jason"),
            Dependency(name="plug", requirement="~> 1.14", app="plug"),
        ],
        "downloads": 5878652,
        "has_docs": True,
        "advisories": [],
        "publisher": "chrismccord",
        "html_url": "https://hex.pm/packages/phoenix/1.7.14",
        "docs_url": "https://phoenix.hexdocs.pm/1.7.14/",
        "mix_snippet": '{:phoenix, "~> 1.7"}',
    }
    fields.update(overrides)
    return Release.model_validate(fields)


def test_release_text() -> None:
    view = ReleaseView(release=_release(), freshness=LIVE)
    assert render.release(view) == (
        "phoenix 1.7.14 — published 2024-06-18\n"
        "retired: no\n"
        "elixir: ~> 1.11 · build: mix · downloads: 5.9M\n"
        "deps (3, 1 optional): castore >= 0.0.0 · jason ~> 1.0 optional · plug ~> 1.14\n"
        "advisories: none\n"
        "checksum (sha256): c7859bc56cc5dfef19ecfc240775dae358cbaa530231118a9e014df392ace61a\n"
        'mix.exs {:phoenix, "~> 1.7"} · publisher chrismccord\n'
        "docs https://phoenix.hexdocs.pm/1.7.14/ · hex https://hex.pm/packages/phoenix/1.7.14\n"
        "source: hex.pm · live"
    )


def test_release_text_retired_and_resolved() -> None:
    release = _release(
        version="1.8.7",
        retirement=Retirement(reason="security", message="use 1.8.8"),
        dependencies=[],
        elixir_requirement=None,
        build_tools=[],
        downloads=None,
        checksum=None,
        mix_snippet=None,
        publisher=None,
        html_url=None,
        docs_url=None,
    )
    view = ReleaseView(release=release, requested="~> 1.8", latest_stable_version="1.8.7", freshness=STALE)
    assert render.release(view) == (
        "phoenix 1.8.7 — published 2024-06-18\n"
        'resolved "~> 1.8" to 1.8.7\n'
        "RETIRED (security issue: use 1.8.8)\n"
        "elixir: any (not declared) · build: ?\n"
        "deps: none\n"
        "advisories: none\n"
        "source: hex.pm · STALE cache, 2d old — live call failed: hex.pm failed on its side (HTTP 503)"
    )


def test_release_text_latest_skipping_a_retired_stable() -> None:
    view = ReleaseView(
        release=_release(version="1.7.13"),
        requested="latest",
        latest_stable_version="1.7.13",
        skipped_retired="1.7.14",
        freshness=LIVE,
    )
    assert render.release(view).splitlines()[1] == (
        'resolved "latest" to 1.7.13 (hex.pm\'s latest stable, 1.7.14, is retired)'
    )


def test_release_text_from_gateway() -> None:
    release = _release(retirement_known=False, advisories=None, publisher=None, mix_snippet=None)
    lines = render.release(ReleaseView(release=release, freshness=CACHED)).splitlines()
    assert lines[1] == "retirement: not available via the gateway"
    assert "advisories: not available via the gateway" in lines


def _search_view(**overrides: object) -> SearchView:
    fields: dict[str, object] = {
        "query": "json",
        "page": 1,
        "limit": 2,
        "sort": "recent_downloads",
        "hits": [
            SearchHit(
                name="jason",
                description="A blazing fast JSON parser and generator in pure Elixir.",
                latest_version="1.4.4",
                latest_stable_version="1.4.4",
                downloads_all=212845310,
                downloads_recent=14203877,
                updated="2024-07-29",
            ),
            SearchHit(
                name="tiny_slug",
                description="Tiny URL slug generator. " * 6,
                latest_version="0.3.0-rc.1",
                latest_stable_version="0.2.1",
                downloads_all=412,
                downloads_recent=57,
                updated="2024-11-18",
                latest_retired=True,
            ),
        ],
        "has_more": True,
        "freshness": LIVE,
    }
    fields.update(overrides)
    return SearchView.model_validate(fields)


def test_search_text() -> None:
    assert render.search(_search_view()) == (
        'search "json" · page 1 · 2 hits · sorted by downloads in the last 90 days\n'
        "jason 1.4.4 — 212.8M dl (14.2M 90d) · upd 2024-07-29 — A blazing fast JSON parser and generator in pure "
        "Elixir.\n"
        "tiny_slug 0.2.1 (pre 0.3.0-rc.1) RETIRED — 412 dl (57 90d) · upd 2024-11-18 — Tiny URL slug generator. "
        "Tiny URL slug generator. Tiny URL slug generator. Tiny URL slug …\n"
        'more results may exist — call hex_search with q="json", page=2\n'
        "source: hex.pm · live"
    )


def test_search_text_gateway_and_empty() -> None:
    view = _search_view(
        sort=None,
        sort_note="the gateway cannot sort; sort=name was ignored",
        hits=[],
        has_more=False,
        freshness=CACHED,
    )
    assert render.search(view) == (
        'search "json" · page 1 · 0 hits · gateway order (unsorted)\n'
        "note: the gateway cannot sort; sort=name was ignored\n"
        "no packages matched. Try fewer or other words, name:prefix*, or check the spelling.\n"
        "source: Hex API gateway · cached 5m ago"
    )


def test_meta_text() -> None:
    view = MetaView(
        server_version="0.1.0",
        backend="oanor",
        base_url="https://api.oanor.com/hex-api",
        key_configured=True,
        offline=False,
        cache_dir="/home/u/.cache/hex-mcp",
        cache_entries=12,
        cache_size_bytes=3 * 1024 * 1024,
        hit_ratio=0.75,
        upstream_calls_month=42,
        monthly_quota=3490,
        rate_limit=RateLimitInfo(limit=100, remaining=97, reset="2026-11-25T10:01:00Z"),
        ttls={
            "package": 900,
            "releases": 900,
            "release": 86400,
            "search": 3600,
            "meta": 86400,
            "registry": 3600,
        },
        gateway=GatewayMeta(endpoints=["/v1/package", "/v1/meta"]),
        registry_mode="auto",
        repo_url="https://repo.hex.pm",
        registry_fetched=7,
        registry_revalidated=2,
        registry_failed=1,
        tarballs_fetched=3,
        tarballs_rejected=1,
    )
    head = (
        "hex-mcp 0.1.0 · backend: Hex API gateway (https://api.oanor.com/hex-api) · API key: set · offline: no\n"
        "cache: /home/u/.cache/hex-mcp · 12 entries · 3.0 MB · hit ratio this process: 75%\n"
        "upstream calls this month: 42 · quota: 3490\n"
        "rate limit: 97/100 left · window resets 2026-11-25T10:01:00Z\n"
        "TTLs (s): package 900 · releases 900 · release 86400 · search 3600 · meta 86400 · registry 3600\n"
        "gateway endpoints: /v1/package, /v1/meta\n"
    )
    tarballs = "\nchangelog tarballs: 3 fetched, 1 refused"
    assert (
        render.meta(view)
        == head
        + (
            "registry: auto · https://repo.hex.pm · this process: 7 fetched, 2 revalidated (304), "
            "1 failed verification"
        )
        + tarballs
    )
    off = view.model_copy(update={"registry_mode": "off"})
    assert (
        render.meta(off)
        == head + "registry: off (HEX_MCP_REGISTRY): every answer comes from the API" + tarballs
    )


def test_releases_collapse_runs_of_prereleases() -> None:
    refs = [
        ReleaseRef(version="1.8.0", published="2025-08-05"),
        ReleaseRef(version="1.8.0-rc.2", published="2025-07-22"),
        ReleaseRef(version="1.8.0-rc.1", published="2025-06-24", retirement=Retirement(reason="deprecated")),
        ReleaseRef(version="1.8.0-rc.0", published="2025-04-02"),
        ReleaseRef(version="1.7.0-rc.1", published="2025-02-03"),
        ReleaseRef(version="1.7.0-rc.0", published="2024-12-31"),
        ReleaseRef(version="1.6.0-rc.1", published="2024-10-01"),
        ReleaseRef(version="1.6.0-rc.0", published="2024-09-01"),
    ]
    view = _releases_view(
        total=8, shown=8, releases=refs, latest_prerelease=None, latest_stable_version="1.8.0"
    )
    assert render.releases(view).splitlines()[1:4] == [
        "all, by year:",
        "2025: 1.8.0 Aug 5, 1.8.0-rc.2 Jul 22, 1.8.0-rc.1 Jun 24 RETIRED (deprecated), 1.8.0-rc.0 Apr 2, "
        "1.7.0-rc.1 Feb 3",
        "2024: 1.7.0-rc.0 Dec 31, 1.6.0-rc.0…rc.1 Sep 1…Oct 1",
    ]


def test_missing_advisory_data_blames_the_gateway_only_on_the_gateway() -> None:
    release = _release(advisories=None)
    assert "advisories" not in render.release(ReleaseView(release=release, freshness=LIVE))
    gateway = render.release(ReleaseView(release=release, freshness=CACHED))
    assert "advisories: not available via the gateway" in gateway


def test_releases_text_gathers_a_year_whose_releases_are_not_adjacent() -> None:
    """A backport published after a newer minor (3.9.6 in 2024, after 3.10.0 in 2023) keeps one line per year."""
    releases = [
        ReleaseRef(version="3.10.1", published="2024-02-01"),
        ReleaseRef(version="3.10.0", published="2023-04-10"),
        ReleaseRef(version="3.9.6", published="2024-03-15"),
        ReleaseRef(version="3.9.5", published="2023-02-01"),
    ]
    view = _releases_view(total=4, shown=4, latest_prerelease=None, releases=releases)
    lines = render.releases(view).splitlines()
    assert lines[1:4] == [
        "all, by year:",
        "2024: 3.10.1 Feb 1, 3.9.6 Mar 15",
        "2023: 3.10.0 Apr 10, 3.9.5 Feb 1",
    ]


def test_releases_text_with_unknown_dates_says_so_once() -> None:
    undated = [ReleaseRef(version="1.7.0"), ReleaseRef(version="1.6.7")]
    view = _releases_view(total=2, shown=2, latest_prerelease=None, releases=undated)
    assert render.releases(view).splitlines()[1:3] == ["all, by year:", "dates unknown: 1.7.0, 1.6.7"]
    mixed = [ReleaseRef(version="1.8.0", published="2025-01-02"), *undated]
    view = _releases_view(total=3, shown=3, latest_prerelease=None, releases=mixed)
    assert render.releases(view).splitlines()[2:4] == ["2025: 1.8.0 Jan 2", "date unknown: 1.7.0, 1.6.7"]


def _plan_view(**fields: object) -> PlanView:
    base: dict[str, object] = {
        "input_format": "mix.lock",
        "update": ["all"],
        "targets": {},
        "outcome": "plan",
        "locked": 60,
        "packages_read": 70,
        "freshness": None,
    }
    return PlanView.model_validate({**base, **fields})


def test_plan_text_bounds_long_lists() -> None:
    changes = [
        PlanChange(name=f"p{i:02}", old="1.0.0", new="1.1.0", why="updated (all dependencies)")
        for i in range(47)
    ]
    held = [
        PlanHeld(name=f"h{i}", version="1.0.0", latest="2.0.0", because=["your mix.exs requires ~> 1.0"])
        for i in range(9)
    ]
    text = render.plan(_plan_view(changes=changes, held=held))
    lines = text.splitlines()
    assert lines[0] == "mix deps.update --all · mix.lock, 60 locked"
    assert lines[1] == "changes (47):"
    assert lines[2] == "- p00 1.0.0 → 1.1.0"
    assert lines[47] == "+2 more changes: p45 1.1.0, p46 1.1.0 (call hex_plan with update=NAME for why)"
    assert lines[48:50] == [
        "held: h0 stays 1.0.0, latest 2.0.0: your mix.exs requires ~> 1.0",
        "held: h1 stays 1.0.0, latest 2.0.0: your mix.exs requires ~> 1.0",
    ]
    assert lines[56] == "+1 more held: h8 1.0.0 (call hex_plan with update=NAME for why)"
    assert lines[57] == "source: signed Hex registry · 70 registry files read"


def test_plan_text_incomplete_and_conflict() -> None:
    stopped = _plan_view(
        outcome="incomplete", incomplete="the deadline passed. No plan was made.", packages_read=3
    )
    assert render.plan(stopped) == (
        "mix deps.update --all · mix.lock, 60 locked\n"
        "INCOMPLETE: the deadline passed. No plan was made.\n"
        "source: signed Hex registry · 3 registry files read"
    )
    conflict = _plan_view(
        outcome="conflict",
        update=["phoenix"],
        targets={"phoenix": "~> 1.8"},
        conflict="No plan: ...\nNext: ...",
        untouched=["ui (git)"],
    )
    assert render.plan(conflict) == (
        "mix deps.update phoenix (target phoenix ~> 1.8) · mix.lock, 60 locked\n"
        "No plan: ...\nNext: ...\n"
        "left alone, not from Hex: ui (git)\n"
        "source: signed Hex registry · 70 registry files read"
    )
