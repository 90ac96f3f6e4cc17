"""Pure text formatters, one per tool output: view model in, compact plain text out.

The text is what a language model reads, so it is built for tokens: no JSON, humanized numbers (150.1M), dates as
YYYY-MM-DD, `·` between facts on a line, releases grouped under a year heading, every list bounded with a line that
names the call that shows more. Facts the backend cannot provide are stated as such, never left to look like "none".
"""

from __future__ import annotations

from collections.abc import Sequence

from hex_mcp.backends import backend_for
from hex_mcp.changelog_part import changelog_header
from hex_mcp.models import (
    OUTDATED_ORDER,
    Advisory,
    BackendName,
    ChangelogView,
    DepChange,
    Dependency,
    DiffView,
    Downloads,
    Freshness,
    MetaView,
    OutdatedRow,
    OutdatedView,
    PackageView,
    PlanView,
    ReleaseRef,
    ReleasesView,
    ReleaseView,
    Retirement,
    SearchHit,
    SearchView,
)
from hex_mcp.text import human_bytes, shorten
from hex_mcp.versions import is_prerelease

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
    line = _freshness(f)
    return f"{line} · note: {f.note}" if f.note else line


def _freshness(f: Freshness) -> str:
    label = "signed Hex registry" if f.registry else backend_for(f.source).label
    if f.stale_reason:
        return f"source: {label} · STALE cache, {age(f.age_seconds)} old — live call failed: {f.stale_reason}"
    if f.from_cache:
        return f"source: {label} · cached {age(f.age_seconds)} ago"
    return f"source: {label} · live"


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


def advisories_lines(
    advisories: list[Advisory] | None, source: BackendName, *, label: str = "advisories"
) -> list[str]:
    if advisories is None:
        # Only the gateway lacks advisories as a rule; a hex.pm document without them is merely silent.
        return [] if backend_for(source).has_advisories else [f"{label}: {NOT_VIA_GATEWAY}"]
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


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _ref(r: ReleaseRef) -> str:
    """`1.8.6 (2026-05-05)`, with the retirement when there is one."""
    flags = f", {retirement_text(r.retirement)}" if r.retirement else ""
    return f"{r.version} ({r.published or '?'}{flags})"


def _month_day(date: str | None) -> str:
    """`2025-06-18` -> `Jun 18`: under a year heading this is about 10% fewer tokens than `(06-18)`."""
    if not date or len(date) < 10 or not date[5:7].isdigit() or not date[8:10].isdigit():
        return "?"
    return f"{MONTHS[int(date[5:7]) - 1]} {int(date[8:10])}"


def _listed_ref(r: ReleaseRef) -> str:
    flags = f" {retirement_text(r.retirement)}" if r.retirement else ""
    date = f" {_month_day(r.published)}" if r.published else ""
    return f"{r.version}{date}{flags}"


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
    retired = f", {view.retired_count} retired" if view.retired_count else ""
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
    # The hex.pm page URL and the rebar.config line are derivable; they stay in the structured content only.
    install = [
        x
        for x in (
            view.docs_url and f"docs {view.docs_url}",
            view.mix_snippet and f"mix.exs {view.mix_snippet}",
        )
        if x
    ]
    if install:
        lines.append(" · ".join(install))
    if view.retired_count is None:
        lines.append(f"retirements: {NOT_VIA_GATEWAY}")
    lines.extend(advisories_lines(view.advisories, view.freshness.source))
    dates = [
        d
        for d in (view.inserted and f"created {view.inserted}", view.updated and f"updated {view.updated}")
        if d
    ]
    if dates:
        lines.append(" · ".join(dates))
    lines.append(freshness_line(view.freshness))
    return "\n".join(lines)


_UNDATED = "????"


def _year(r: ReleaseRef) -> str:
    return r.published[:4] if r.published else _UNDATED


def _pre_run(refs: Sequence[ReleaseRef], start: int) -> int:
    """End (exclusive) of the run of unretired pre-releases of one version and year that starts at `start`."""
    first = refs[start]
    if not is_prerelease(first.version) or first.retirement:
        return start + 1
    base = first.version.split("-", 1)[0]
    end = start + 1
    while end < len(refs):
        r = refs[end]
        if (
            r.retirement
            or "-" not in r.version
            or r.version.split("-", 1)[0] != base
            or _year(r) != _year(first)
        ):
            break
        end += 1
    return end


def _release_entries(refs: Sequence[ReleaseRef]) -> list[tuple[str, str]]:
    """(year, text) per entry; a run of pre-releases of one version collapses to `1.8.0-rc.0…rc.4 Apr 2…Jul 22`."""
    entries: list[tuple[str, str]] = []
    i = 0
    while i < len(refs):
        end = _pre_run(refs, i)
        if end - i >= 2:
            newest, oldest = refs[i], refs[end - 1]
            dates = (
                f" {_month_day(oldest.published)}…{_month_day(newest.published)}" if newest.published else ""
            )
            entries.append((_year(newest), f"{oldest.version}…{newest.version.split('-', 1)[1]}{dates}"))
        else:
            entries.append((_year(refs[i]), _listed_ref(refs[i])))
        i = end
    return entries


def _group_by_year(refs: Sequence[ReleaseRef]) -> list[str]:
    """One line per year, newest year first, each in SemVer order; undated releases in one last line.

    Publish order is not SemVer order (a 3.9.6 backport ships after 3.10.0), so a year is gathered, never split.
    """
    by_year: dict[str, list[str]] = {}
    for ref_year, text in _release_entries(refs):
        by_year.setdefault(ref_year, []).append(text)
    undated = by_year.pop(_UNDATED, None)
    lines = [f"{year}: " + ", ".join(by_year[year]) for year in sorted(by_year, reverse=True)]
    if undated:
        lines.append(f"{'date' if lines else 'dates'} unknown: " + ", ".join(undated))
    return lines


def releases(view: ReleasesView) -> str:
    head = f"{view.name}: {view.total} releases"
    if view.requirement is not None:
        pre = " incl. pre-releases" if view.include_prereleases else ""
        head += f" · {view.matching} match {view.requirement}{pre}"
        picked = "highest non-retired match" if view.retirements_known else "highest match"
        head += f" · {picked}: {view.highest_match or 'none'}"
    head += f" · latest stable: {view.latest_stable_version or 'none'}"
    if view.latest_prerelease:
        head += f" · newer pre-release: {view.latest_prerelease} (not stable)"
    lines = [head]
    listed = view.matching if view.matching is not None else view.total
    if view.shown:
        lines.append(f"newest {view.shown}, by year:" if view.shown < listed else "all, by year:")
        lines.extend(_group_by_year(view.releases))
    hidden = listed - view.shown
    if hidden > 0:
        req = f', requirement="{view.requirement}"' if view.requirement else ""
        lines.append(
            _more_line(hidden, f'hex_releases with name="{view.name}"{req}, limit={min(500, listed)}')
        )
    if not view.retirements_known:
        lines.append(f"retirements: {NOT_VIA_GATEWAY}")
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
    if is_prerelease(r.version):
        head += " · pre-release"
    lines = [head]
    if view.requested is not None:
        resolved = f'resolved "{view.requested}" to {r.version}'
        if view.skipped_retired:
            resolved += f" (hex.pm's latest stable, {view.skipped_retired}, is retired)"
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
    lines.extend(advisories_lines(r.advisories, view.freshness.source))
    if r.checksum:
        lines.append(f"checksum (sha256): {r.checksum}")
    extras = [
        e
        for e in (r.mix_snippet and f"mix.exs {r.mix_snippet}", r.publisher and f"publisher {r.publisher}")
        if e
    ]
    if extras:
        lines.append(" · ".join(extras))
    urls = [u for u in (r.docs_url and f"docs {r.docs_url}", r.html_url and f"hex {r.html_url}") if u]
    if urls:
        lines.append(" · ".join(urls))
    lines.append(freshness_line(view.freshness))
    return "\n".join(lines)


def _hit(h: SearchHit) -> str:
    version = h.latest_stable_version or h.latest_version or "?"
    parts = [f"{h.name} {version}" + (" (pre-release)" if is_prerelease(version) else "")]
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
            desc = shorten(desc, SEARCH_DESCRIPTION_LIMIT)
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


def meta(view: MetaView) -> str:
    source = backend_for(view.backend).label
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
            f"{human_bytes(view.cache_size_bytes)} · hit ratio this process: {ratio}"
        )
    if view.store is not None:
        lines.append(f"shared store: {view.store}")
    quota = (
        f"{view.monthly_quota}" if view.monthly_quota is not None else "no limit set (HEX_MCP_MONTHLY_QUOTA)"
    )
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
    if view.registry_mode == "off":
        lines.append("registry: off (HEX_MCP_REGISTRY): every answer comes from the API")
    else:
        lines.append(
            f"registry: {view.registry_mode} · {view.repo_url} · this process: {view.registry_fetched} fetched, "
            f"{view.registry_revalidated} revalidated (304), {view.registry_failed} failed verification"
        )
    lines.append(f"changelog tarballs: {view.tarballs_fetched} fetched, {view.tarballs_rejected} refused")
    return "\n".join(lines)


# -- upgrade assistant ---------------------------------------------------------------------------------------

STEP_LABELS = {"major": "major", "minor": "minor", "patch": "patch", "pre": "pre-release → final"}
ADVISORY_SUMMARY_LIMIT = 80


def _dep_change(c: DepChange) -> str:
    parts = []
    if c.from_requirement != c.to_requirement:
        parts.append(f"{c.from_requirement} → {c.to_requirement}")
    if c.from_optional != c.to_optional:
        parts.append("now optional" if c.to_optional else "no longer optional")
    return f"{c.name} {', '.join(parts)}"


def _changed(label: str, old: str, new: str) -> str:
    return f"{label}: {old} (unchanged)" if old == new else f"{label}: {old} → {new}"


def _retired_at(version: str, retirement: Retirement | None) -> str:
    return f"{version} {retirement_text(retirement) if retirement else 'no'}"


def diff(view: DiffView) -> str:
    step = STEP_LABELS.get(view.update_kind, view.update_kind)
    ends = " → ".join(
        f"{v} (pre-release)" if is_prerelease(v) else v for v in (view.from_version, view.to_version)
    )
    if view.direction == "downgrade":
        head = f"{view.name} {ends} · DOWNGRADE ({step} step back)"
    else:
        head = f"{view.name} {ends} · {step} upgrade"
    lines = [head]
    resolved = [
        f'"{asked}" → {version}'
        for asked, version in ((view.from_requested, view.from_version), (view.to_requested, view.to_version))
        if asked is not None
    ]
    if resolved:
        lines.append("resolved: " + " · ".join(resolved))
    facts = [f"published: {view.from_published or '?'} → {view.to_published or '?'}"]
    if view.releases_between is None:
        facts.append("releases in between: unknown (the release list is incomplete)")
    else:
        counted = ((view.prereleases_between, "pre"), (view.retired_between, "retired"))
        extra = ", ".join(f"{n} {label}" for n, label in counted if n)
        noun = "release" if view.releases_between == 1 else "releases"
        facts.append(f"{view.releases_between} {noun} in between" + (f" ({extra})" if extra else ""))
    if view.latest_stable_version and view.latest_stable_version not in (view.from_version, view.to_version):
        facts.append(f"latest stable: {view.latest_stable_version}")
    lines.append(" · ".join(facts))

    added, removed, changed = view.deps_added, view.deps_removed, view.deps_changed
    if not (added or removed or changed):
        lines.append(f"deps: no change ({view.deps_unchanged})" if view.deps_unchanged else "deps: none")
    else:
        lines.append(
            f"deps: {len(added)} added, {len(removed)} removed, {len(changed)} changed, "
            f"{view.deps_unchanged} unchanged"
        )
        if added:
            lines.append("+ " + " · ".join(_dep(d) for d in added))
        if removed:
            lines.append("- " + " · ".join(_dep(d) for d in removed))
        if changed:
            lines.append("~ " + " · ".join(_dep_change(c) for c in changed))
    if view.build_facts_known:
        lines.append(
            _changed("elixir", view.elixir_from or "any", view.elixir_to or "any")
            + " · "
            + _changed(
                "build", ", ".join(view.build_tools_from) or "?", ", ".join(view.build_tools_to) or "?"
            )
        )
    if not view.retirements_known:
        lines.append(f"retirement: {NOT_VIA_GATEWAY}")
    elif view.from_retirement is None and view.to_retirement is None:
        lines.append("retired: neither")
    else:
        lines.append(
            "retired: "
            + _retired_at(view.from_version, view.from_retirement)
            + " · "
            + _retired_at(view.to_version, view.to_retirement)
        )
    if not view.advisories_known:
        if not backend_for(view.freshness.source).has_advisories:
            lines.append(f"advisories: {NOT_VIA_GATEWAY}")
    elif not (view.advisories_fixed or view.advisories_introduced or view.advisories_unfixed):
        lines.append("advisories: none affect either version")
    else:
        for label, group in (
            (f"advisories fixed by moving to {view.to_version}", view.advisories_fixed),
            (f"advisories introduced by {view.to_version}", view.advisories_introduced),
            ("advisories affecting both", view.advisories_unfixed),
        ):
            if group:
                lines.append(f"{label} ({len(group)}):")
                lines.extend(f"- {advisory_text(a)}" for a in group)
    lines.append(f"code diff: {view.diff_url}")
    if view.changelog is not None:
        lines.append(changelog(view.changelog))
    lines.append(freshness_line(view.freshness))
    return "\n".join(lines)


def changelog(part: ChangelogView) -> str:
    """hex_diff's changelog part: a header line and the entries, or one line saying why none and where to look."""
    if part.status == "shown" and part.file is not None:
        count = len(part.sections) + len(part.omitted)
        header = changelog_header(part.file, part.read_from, part.after, count, part.older)
        return f"{header}\n{part.text}"
    where = f" · see {part.link_label}: {part.link}" if part.link else ""
    return f"changelog: not shown — {part.note}{where}"


def _advisory_short(a: Advisory) -> str:
    alias = f" ({a.aliases[0]})" if a.aliases else ""
    severity = f" {a.severity}" if a.severity else ""
    summary = ""
    if a.summary:
        text = " ".join(a.summary.split())
        if len(text) > ADVISORY_SUMMARY_LIMIT:
            text = shorten(text, ADVISORY_SUMMARY_LIMIT)
        summary = f": {text}"
    return f"{a.id}{alias}{severity}{summary}"


def _outdated_row(r: OutdatedRow) -> str:
    """One line; the step size is left out where the group heading already says it."""
    name = r.name + (f" (app {r.app})" if r.app else "")
    if r.current is not None:
        head = f"{name} {r.current}"
    elif r.requirement is not None:
        head = f"{name} {r.requirement}" + (f" = {r.checked}" if r.checked else "")
    else:
        head = name
    if r.update and r.latest_stable:
        head += f" → {r.latest_stable}"
        if r.status != r.update:
            head += f" {STEP_LABELS.get(r.update, r.update)}"
    parts = [head]
    if r.status == "unresolved":
        parts.append(r.note or "no version to check")
        parts.append(f"latest {r.latest_stable or 'none'}")
        return " · ".join(parts)
    if r.update and r.current is None and r.requirement is not None:
        parts.append(f"outside {r.requirement}")
    if r.retirement is not None:
        parts.append(retirement_text(r.retirement))
    if r.advisories:
        parts.extend(_advisory_short(a) for a in r.advisories)
        parts.append(f"fixed in {r.fixed_in}" if r.fixed_in else "no fixed release yet")
    if r.note:
        parts.append(r.note)
    if r.update_possible is not None:
        parts.append("possible" if r.update_possible else f"blocked: {', '.join(r.blocked_by)}")
    return " · ".join(parts)


_SKIP_TITLES = {
    "not_public": "skipped, not on public Hex",
    "unreadable": "could not be read",
    "limit": "not checked",
}


def outdated(view: OutdatedView) -> str:
    counts = view.counts
    # Zero counts of the main groups are news too ("0 vulnerable"), except where the backend cannot tell.
    always = {"major", "minor", "patch", "current"}
    if view.advisories_known:
        always |= {"vulnerable", "retired"}
    shown = [s for s in OUTDATED_ORDER if counts.get(s) or s in always]
    labels = {"not_found": "not found", "error": "failed"}
    summary = ", ".join(f"{counts.get(s, 0)} {labels.get(s, s)}" for s in shown)
    head = f"{view.input_format} · {view.checked} deps checked: {summary}"
    if view.skipped:
        head += f" · {len(view.skipped)} skipped"
    lines = [head]
    by_status: dict[str, list[OutdatedRow]] = {}
    for row in view.rows:
        by_status.setdefault(row.status, []).append(row)
    for status in ("vulnerable", "retired", "unpublished", "major", "minor", "patch", "unresolved"):
        rows = by_status.get(status)
        if rows:
            lines.append(f"{status} ({len(rows)}):")
            lines.extend(f"- {_outdated_row(r)}" for r in rows)
    if current := by_status.get("current"):
        lines.append(f"up to date ({len(current)}): " + ", ".join(r.name for r in current))
    if missing := by_status.get("not_found"):
        lines.append(f"not found on Hex ({len(missing)}): " + ", ".join(r.name for r in missing))
    if failed := by_status.get("error"):
        by_error: dict[str, list[str]] = {}
        for r in failed:
            by_error.setdefault(r.note or "lookup failed", []).append(r.name)
        lines.append(f"lookup failed ({len(failed)}):")
        lines.extend(f"- {', '.join(names)}: {message}" for message, names in by_error.items())
    for kind, title in _SKIP_TITLES.items():
        skipped = [s for s in view.skipped if s.kind == kind]
        if skipped:
            by_reason: dict[str, list[str]] = {}
            for s in skipped:
                by_reason.setdefault(s.reason, []).append(s.name)
            lines.append(
                f"{title} ({len(skipped)}): "
                + " · ".join(f"{', '.join(names)} ({reason})" for reason, names in by_reason.items())
            )
    if not view.advisories_known:
        lines.append(f"retirements and advisories: {NOT_VIA_GATEWAY}")
    lookups = f"lookups: {view.live_lookups} live, {view.cached_lookups} cached"
    if view.freshness is None:
        lines.append(f"source: {backend_for(view.source).label} · no lookup succeeded")
    else:
        lines.append(f"{freshness_line(view.freshness)} · {lookups}")
    return "\n".join(lines)


# Reasons every change of a plan shares: said once in the heading, not on each line.
_PLAN_DEFAULT_WHY = ("updated (all dependencies)", "updated as requested")


# A plan for a large lock stays compact: past these, the rest are named in one line (the structured content has all).
PLAN_CHANGES_SHOWN = 45
PLAN_ADDED_SHOWN = 15
PLAN_HELD_SHOWN = 8


def _plan_more(label: str, rest: Sequence[str]) -> list[str]:
    if not rest:
        return []
    return [f"+{len(rest)} more {label}: {', '.join(rest)} (call hex_plan with update=NAME for why)"]


def _plan_heading(view: PlanView) -> str:
    asked = "mix deps.update " + ("--all" if view.update == ["all"] else " ".join(view.update))
    targets = ", ".join(f"{name} {req}" for name, req in view.targets.items())
    return f"{asked}{f' (target {targets})' if targets else ''} · {view.input_format}, {view.locked} locked"


def plan(view: PlanView) -> str:
    lines = [_plan_heading(view)]
    if view.conflict is not None:
        lines.append(view.conflict)
    if view.incomplete is not None:
        lines.append(f"INCOMPLETE: {view.incomplete}")
    if view.outcome != "conflict":
        if view.outcome == "plan" and not (view.changes or view.added or view.removed):
            lines.append("no change: the lock already has what this update would pick")
        if view.changes:
            lines.append(f"changes ({len(view.changes)}):")
            lines.extend(
                f"- {c.name} {c.old} → {c.new}" + ("" if c.why in _PLAN_DEFAULT_WHY else f" ({c.why})")
                for c in view.changes[:PLAN_CHANGES_SHOWN]
            )
            lines.extend(
                _plan_more("changes", [f"{c.name} {c.new}" for c in view.changes[PLAN_CHANGES_SHOWN:]])
            )
        if view.added:
            lines.append(f"added ({len(view.added)}):")
            lines.extend(f"- {a.name} {a.version} ({a.why})" for a in view.added[:PLAN_ADDED_SHOWN])
            lines.extend(
                _plan_more("added", [f"{a.name} {a.version}" for a in view.added[PLAN_ADDED_SHOWN:]])
            )
        if view.removed:
            lines.append(f"removed ({len(view.removed)}): {', '.join(view.removed)}")
        if view.flagged:
            lines.append(
                "check before taking: " + "; ".join(f"{f.name} {f.version} {f.reason}" for f in view.flagged)
            )
        for h in view.held[:PLAN_HELD_SHOWN]:
            lines.append(f"held: {h.name} stays {h.version}, latest {h.latest}: {'; '.join(h.because)}")
        lines.extend(_plan_more("held", [f"{h.name} {h.version}" for h in view.held[PLAN_HELD_SHOWN:]]))
    if view.untouched:
        lines.append(f"left alone, not from Hex: {', '.join(view.untouched)}")
    lines.extend(f"note: {note}" for note in view.notes)
    tail = f"{view.packages_read} registry files read"
    if view.freshness is None:
        lines.append(f"source: signed Hex registry · {tail}")
    else:
        lines.append(f"{freshness_line(view.freshness)} · {tail}")
    return "\n".join(lines)
