"""Pure text formatters, one per tool output: view model in, compact plain text out.

The text is what a language model reads, so it is built for tokens: no JSON, humanized numbers (150.1M), dates as
YYYY-MM-DD, `·` between facts on a line, releases grouped under a year heading, every list bounded with a line that
names the call that shows more. Facts the backend cannot provide are stated as such, never left to look like "none".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hex_mcp.models import (
    Advisory,
    Dependency,
    Downloads,
    Freshness,
    MetaView,
    PackageView,
    ReleaseRef,
    ReleasesView,
    ReleaseView,
    Retirement,
    SearchHit,
    SearchView,
)

SOURCE_LABELS = {"hexpm": "hex.pm", "oanor": "Hex API gateway"}
NOT_VIA_GATEWAY = "not available via the gateway"
SEARCH_DESCRIPTION_LIMIT = 90
RETIREMENT_LABELS = {
    "invalid": "release invalid",
    "security": "security issue",
    "deprecated": "deprecated",
    "renamed": "renamed",
    "other": "other",
}


def humanize(n: int | None) -> str:
    """150117848 -> 150.1M, 17151 -> 17.2K, 412 -> 412."""
    if n is None:
        return "?"
    for div, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if abs(n) >= div:
            text = f"{n / div:.1f}"
            return (text[:-2] if text.endswith(".0") else text) + suffix
    return str(n)


def age(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86_400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86_400}d"


def freshness_line(f: Freshness) -> str:
    label = SOURCE_LABELS.get(f.source, f.source)
    if f.stale_reason:
        return f"source: {label} · STALE cache, {age(f.age_seconds)} old — live call failed: {f.stale_reason}"
    if f.from_cache:
        return f"source: {label} · cached {age(f.age_seconds)} ago (fetched {f.fetched_at})"
    return f"source: {label} · live (fetched {f.fetched_at})"


def retirement_text(r: Retirement) -> str:
    label = RETIREMENT_LABELS.get(r.reason, r.reason)
    return f"RETIRED ({label}{': ' + r.message if r.message else ''})"


def advisory_text(a: Advisory) -> str:
    severity = f" {a.severity}" if a.severity else ""
    affected = f" · affects {' or '.join(a.affected)}" if a.affected else ""
    summary = f" — {a.summary}" if a.summary else ""
    aliases = f" ({', '.join(a.aliases)})" if a.aliases else ""
    url = f" {a.url}" if a.url else ""
    return f"{a.id}{aliases}{severity}{summary}{affected}{url}"


def advisories_lines(advisories: list[Advisory] | None, *, label: str = "advisories") -> list[str]:
    if advisories is None:
        return [f"{label}: {NOT_VIA_GATEWAY}"]
    if not advisories:
        return [f"{label}: none"]
    return [f"{label} ({len(advisories)}):", *(f"- {advisory_text(a)}" for a in advisories)]


def downloads_text(d: Downloads) -> str:
    parts = [f"{humanize(d.all)} all"]
    if d.recent is not None:
        parts.append(f"{humanize(d.recent)} last 90d")
    if d.week is not None:
        parts.append(f"{humanize(d.week)} week")
    if d.day is not None:
        parts.append(f"{humanize(d.day)} day")
    return " · ".join(parts) if d.all is not None else "no downloads counted"


def _ref(r: ReleaseRef, *, with_year: bool = True) -> str:
    date = (r.published if with_year else r.published[5:]) if r.published else "?"
    flags = ""
    if "-" in r.version:
        flags += ", pre"
    if r.retirement:
        flags += ", " + retirement_text(r.retirement)
    return f"{r.version} ({date}{flags})"


def _more_line(hidden: int, call: str) -> str:
    return f"+{hidden} more — call {call}"


def package(view: PackageView) -> str:
    head = view.name + (f" — {view.description}" if view.description else "")
    lines = [head]
    latest = f"latest stable: {view.latest_stable_version or 'none (only pre-releases)'}"
    stable_ref = next((r for r in view.recent_releases if r.version == view.latest_stable_version), None)
    if stable_ref and stable_ref.published:
        latest += f" ({stable_ref.published})"
    if view.latest_prerelease:
        latest += f" · newer pre-release: {view.latest_prerelease} (not stable)"
    lines.append(latest)
    count = view.release_count
    retired = (
        f", {view.retired_count} retired" if view.retired_count else "" if view.retired_count is not None else ""
    )
    recent = ", ".join(_ref(r) for r in view.recent_releases)
    lines.append(f"releases: {count if count is not None else '?'}{retired} · newest: {recent}")
    if count is not None and count > len(view.recent_releases):
        lines.append(_more_line(count - len(view.recent_releases), f'hex_releases with name="{view.name}"'))
    lines.append(f"downloads: {downloads_text(view.downloads)}")
    lines.append(f"licenses: {', '.join(view.licenses) or 'none declared'}")
    if view.owners is not None:
        lines.append(f"owners: {', '.join(view.owners) or 'none listed'}")
    if view.links:
        lines.append("links: " + " · ".join(f"{k} {v}" for k, v in view.links.items()))
    urls = [u for u in (view.docs_url and f"docs {view.docs_url}", view.html_url and f"hex {view.html_url}") if u]
    if urls:
        lines.append(" · ".join(urls))
    snippets = [s for s in (view.mix_snippet and f"mix.exs {view.mix_snippet}",
                            view.rebar_snippet and f"rebar.config {view.rebar_snippet}") if s]
    if snippets:
        lines.append(" · ".join(snippets))
    if view.retired_count is None:
        lines.append(f"retirements: {NOT_VIA_GATEWAY}")
    lines.extend(advisories_lines(view.advisories))
    dates = [d for d in (view.inserted and f"created {view.inserted}", view.updated and f"updated {view.updated}") if d]
    if dates:
        lines.append(" · ".join(dates))
    lines.append(freshness_line(view.freshness))
    return "\n".join(lines)


def _group_by_year(refs: Iterable[ReleaseRef]) -> list[str]:
    lines: list[str] = []
    year: str | None = None
    current: list[str] = []
    for r in refs:
        ref_year = r.published[:4] if r.published else "????"
        if ref_year != year:
            if current:
                lines.append(f"{year}: " + ", ".join(current))
            year, current = ref_year, []
        current.append(_ref(r, with_year=False))
    if current:
        lines.append(f"{year}: " + ", ".join(current))
    return lines


def releases(view: ReleasesView) -> str:
    head = f"{view.name}: {view.total} releases"
    if view.requirement is not None:
        pre = " incl. pre-releases" if view.include_prereleases else ""
        head += f" · {view.matching} match {view.requirement}{pre}"
        head += f" · highest non-retired match: {view.highest_match or 'none'}"
    head += f" · latest stable: {view.latest_stable_version or 'none'}"
    if view.latest_prerelease:
        head += f" · newer pre-release: {view.latest_prerelease} (not stable)"
    lines = [head]
    listed = view.matching if view.matching is not None else view.total
    if view.shown:
        lines.append(f"newest {view.shown} (MM-DD under each year):" if view.shown < listed else "all (MM-DD under each year):")
        lines.extend(_group_by_year(view.releases))
    hidden = listed - view.shown
    if hidden > 0:
        req = f', requirement="{view.requirement}"' if view.requirement else ""
        lines.append(_more_line(hidden, f'hex_releases with name="{view.name}"{req}, limit={min(500, listed)}'))
    if not view.retirements_known:
        lines.append(f"retirements: {NOT_VIA_GATEWAY} (check with hex_release per version on hex.pm)")
    lines.append(freshness_line(view.freshness))
    return "\n".join(lines)


def _dep(d: Dependency) -> str:
    app = f" (app {d.app})" if d.app and d.app != d.name else ""
    return f"{d.name} {d.requirement}{' optional' if d.optional else ''}{app}"


def dependencies_text(deps: Sequence[Dependency]) -> str:
    if not deps:
        return "deps: none"
    optional = sum(1 for d in deps if d.optional)
    head = f"deps ({len(deps)}{f', {optional} optional' if optional else ''}): "
    return head + " · ".join(_dep(d) for d in deps)


def release(view: ReleaseView) -> str:
    r = view.release
    head = f"{r.package} {r.version}"
    if r.published:
        head += f" — published {r.published}"
    if "-" in r.version:
        head += " · pre-release"
    lines = [head]
    if view.requested is not None:
        resolved = f'resolved "{view.requested}" to {r.version}'
        skipped = view.latest_stable_version
        if view.requested == "latest" and skipped and skipped != r.version:
            resolved += f" (hex.pm's latest stable, {skipped}, is retired)"
        lines.append(resolved)
    if not r.retirement_known:
        lines.append(f"retirement: {NOT_VIA_GATEWAY}")
    elif r.retirement:
        lines.append(retirement_text(r.retirement))
    else:
        lines.append("retired: no")
    facts = [f"elixir: {r.elixir_requirement or 'any (not declared)'}"]
    facts.append(f"build: {', '.join(r.build_tools) or '?'}")
    if r.downloads is not None:
        facts.append(f"downloads: {humanize(r.downloads)}")
    lines.append(" · ".join(facts))
    lines.append(dependencies_text(r.dependencies))
    lines.extend(advisories_lines(r.advisories))
    if r.checksum:
        lines.append(f"checksum (sha256): {r.checksum}")
    extras = [e for e in (r.mix_snippet and f"mix.exs {r.mix_snippet}", r.publisher and f"publisher {r.publisher}") if e]
    if extras:
        lines.append(" · ".join(extras))
    urls = [u for u in (r.docs_url and f"docs {r.docs_url}", r.html_url and f"hex {r.html_url}") if u]
    if urls:
        lines.append(" · ".join(urls))
    lines.append(freshness_line(view.freshness))
    return "\n".join(lines)


def _hit(h: SearchHit) -> str:
    version = h.latest_stable_version or h.latest_version or "?"
    parts = [f"{h.name} {version}"]
    if h.latest_version and h.latest_stable_version and h.latest_version != h.latest_stable_version:
        parts.append(f"(pre {h.latest_version})")
    if h.latest_retired:
        parts.append("RETIRED")
    stats = f"{humanize(h.downloads_all)} dl"
    if h.downloads_recent is not None:
        stats += f" ({humanize(h.downloads_recent)} 90d)"
    if h.updated:
        stats += f" · upd {h.updated}"
    line = " ".join(parts) + " — " + stats
    if h.description:
        desc = " ".join(h.description.split())
        if len(desc) > SEARCH_DESCRIPTION_LIMIT:
            desc = desc[:SEARCH_DESCRIPTION_LIMIT].rsplit(" ", 1)[0] + " …"
        line += f" — {desc}"
    return line


SORT_LABELS = {
    "recent_downloads": "downloads in the last 90 days",
    "total_downloads": "all-time downloads",
    "name": "name",
    "inserted_at": "newest package",
    "updated_at": "latest update",
}


def search(view: SearchView) -> str:
    order = f"sorted by {SORT_LABELS.get(view.sort, view.sort)}" if view.sort else "gateway order (unsorted)"
    head = f'search "{view.query}" · page {view.page} · {len(view.hits)} hits · {order}'
    lines = [head]
    if view.sort_note:
        lines.append(f"note: {view.sort_note}")
    if not view.hits:
        lines.append(
            "no packages matched. Try fewer or other words, name:prefix*, or check the spelling."
            if view.page == 1
            else "no more results on this page."
        )
    lines.extend(_hit(h) for h in view.hits)
    if view.has_more:
        lines.append(f'more results may exist — call hex_search with q="{view.query}", page={view.page + 1}')
    lines.append(freshness_line(view.freshness))
    return "\n".join(lines)


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for div, unit in ((1024 * 1024 * 1024, "GB"), (1024 * 1024, "MB"), (1024, "KB")):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


def meta(view: MetaView) -> str:
    source = SOURCE_LABELS.get(view.backend, view.backend)
    lines = [
        f"hex-mcp {view.server_version} · backend: {source} ({view.base_url}) · API key: "
        f"{'set' if view.key_configured else 'none'} · offline: {'yes' if view.offline else 'no'}"
    ]
    if view.cache_dir is None:
        lines.append("cache: disabled")
    else:
        ratio = f"{round(view.hit_ratio * 100)}%" if view.hit_ratio is not None else "n/a (no lookups yet)"
        lines.append(
            f"cache: {view.cache_dir} · {view.cache_entries if view.cache_entries is not None else '?'} entries · "
            f"{_size(view.cache_size_bytes)} · hit ratio this process: {ratio}"
        )
    quota = f"{view.monthly_quota}" if view.monthly_quota is not None else "no limit set (HEX_MCP_MONTHLY_QUOTA)"
    lines.append(f"upstream calls this month: {view.upstream_calls_month} · quota: {quota}")
    if view.rate_limit is not None:
        rl = view.rate_limit
        lines.append(f"rate limit: {rl.remaining}/{rl.limit} left · window resets {rl.reset or '?'}")
    else:
        lines.append("rate limit: no headers seen yet")
    lines.append("TTLs (s): " + " · ".join(f"{k} {v}" for k, v in view.ttls.items()))
    if view.gateway is not None and view.gateway.endpoints:
        lines.append(f"gateway endpoints: {', '.join(view.gateway.endpoints)}")
    if view.gateway_error:
        lines.append(f"gateway meta: unavailable ({view.gateway_error})")
    return "\n".join(lines)
