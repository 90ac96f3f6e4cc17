"""The upgrade assistant's pure logic: what changes between two releases, and how outdated a dependency is.

`HexService.diff` and `HexService.outdated` fetch the data; these functions decide, so they can be tested without
any I/O. Version rules come from `hex_mcp.versions`; resolving "latest" or a requirement from `hex_mcp.resolve`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from hex_mcp.deps_input import DepSpec
from hex_mcp.models import (
    OUTDATED_ORDER,
    Advisory,
    DepChange,
    DiffView,
    Freshness,
    OutdatedRow,
    OutdatedStatus,
    Package,
    Release,
)
from hex_mcp.resolve import latest_stable
from hex_mcp.versions import Requirement, UpdateKind, Version, VersionError, hex_pick, update_kind

log = logging.getLogger(__name__)

DIFF_URL = "https://diff.hex.pm/diff/{name}/{from_version}..{to_version}"


@dataclass(frozen=True)
class DepCheck:
    """One dependency's outdated row, with the freshness of the lookup behind it."""

    row: OutdatedRow
    freshness: Freshness | None
    retirements_known: bool | None


# A pre-release to its final release ("pre") is the smallest step there is: grouped with patches.
_STEP_STATUS: dict[str, OutdatedStatus] = {
    "major": "major",
    "minor": "minor",
    "patch": "patch",
    "pre": "patch",
}


def advisory_affects(advisory: Advisory, version: str) -> bool:
    """Whether `version` falls in one of the advisory's `affected` requirements (pre-releases included)."""
    parsed = Version.try_parse(version)
    if parsed is None:
        return False
    for text in advisory.affected:
        try:
            if Requirement.parse(text).matches(parsed, allow_pre=True):
                return True
        except VersionError:
            log.debug("advisory %s: unparseable affected range %r", advisory.id, text)
    return False


def advisories_affecting(
    package_advisories: list[Advisory] | None, release_advisories: list[Advisory] | None, version: str
) -> list[Advisory] | None:
    """The release's own advisories plus the package's whose ranges cover `version`; None: not exposed."""
    if package_advisories is None and release_advisories is None:
        return None
    found = {a.id: a for a in release_advisories or []}
    for advisory in package_advisories or []:
        if advisory.id not in found and advisory_affects(advisory, version):
            found[advisory.id] = advisory
    return list(found.values())


def combined_freshness(items: list[Freshness]) -> Freshness:
    """One stamp for an answer built from several reads: the oldest age, and any stale reason."""
    oldest = max(items, key=lambda f: f.age_seconds)
    notes = list(dict.fromkeys(f.note for f in items if f.note))
    more = f" (and {len(notes) - 1} more like it)" if len(notes) > 1 else ""
    return Freshness(
        source=oldest.source,
        fetched_at=oldest.fetched_at,
        age_seconds=oldest.age_seconds,
        from_cache=any(f.from_cache for f in items),
        stale_reason=next((f.stale_reason for f in items if f.stale_reason), None),
        registry=all(f.registry for f in items),
        note=notes[0] + more if notes else None,
    )


def build_diff(
    pkg: Package,
    old: Release,
    new: Release,
    *,
    from_requested: str | None,
    to_requested: str | None,
    freshness: Freshness,
) -> DiffView:
    """Compare two releases of one package; `pkg` is the release list (and, on hex.pm, the advisories)."""
    name = old.package
    old_v, new_v = Version.parse(old.version), Version.parse(new.version)
    downgrade = new_v < old_v
    low, high = (new_v, old_v) if downgrade else (old_v, new_v)
    between: int | None = None
    pre_between: int | None = None
    retired_between: int | None = None
    if pkg.releases_complete:
        inside = [
            (parsed, r)
            for r in pkg.releases
            if (parsed := Version.try_parse(r.version)) is not None and low < parsed < high
        ]
        between = len(inside)
        pre_between = sum(1 for parsed, _ in inside if parsed.is_prerelease)
        retired_between = sum(1 for _, r in inside if r.retirement) if pkg.retirements_known else None

    old_deps = {d.name: d for d in old.dependencies}
    new_deps = {d.name: d for d in new.dependencies}
    changed = [
        DepChange(
            name=n,
            from_requirement=old_deps[n].requirement,
            to_requirement=new_deps[n].requirement,
            from_optional=old_deps[n].optional,
            to_optional=new_deps[n].optional,
        )
        for n in sorted(old_deps.keys() & new_deps.keys())
        if (old_deps[n].requirement, old_deps[n].optional) != (new_deps[n].requirement, new_deps[n].optional)
    ]

    old_adv = advisories_affecting(pkg.advisories, old.advisories, old.version)
    new_adv = advisories_affecting(pkg.advisories, new.advisories, new.version)
    old_ids = {a.id for a in old_adv or []}
    new_ids = {a.id for a in new_adv or []}
    return DiffView(
        name=name,
        from_version=old.version,
        to_version=new.version,
        from_requested=from_requested,
        to_requested=to_requested,
        direction="downgrade" if downgrade else "upgrade",
        update_kind=update_kind(str(low), str(high)),
        from_published=old.published,
        to_published=new.published,
        latest_stable_version=latest_stable(pkg),
        releases_between=between,
        prereleases_between=pre_between,
        retired_between=retired_between,
        deps_added=[new_deps[n] for n in sorted(new_deps.keys() - old_deps.keys())],
        deps_removed=[old_deps[n] for n in sorted(old_deps.keys() - new_deps.keys())],
        deps_changed=changed,
        deps_unchanged=len(old_deps.keys() & new_deps.keys()) - len(changed),
        # Every API release document names its build tools; none on either side means only registry facts came.
        build_facts_known=bool(old.build_tools or new.build_tools),
        elixir_from=old.elixir_requirement,
        elixir_to=new.elixir_requirement,
        build_tools_from=old.build_tools,
        build_tools_to=new.build_tools,
        retirements_known=old.retirement_known and new.retirement_known,
        from_retirement=old.retirement,
        to_retirement=new.retirement,
        advisories_known=old_adv is not None and new_adv is not None,
        advisories_fixed=[a for a in old_adv or [] if a.id not in new_ids],
        advisories_introduced=[a for a in new_adv or [] if a.id not in old_ids],
        advisories_unfixed=[a for a in old_adv or [] if a.id in new_ids],
        diff_url=DIFF_URL.format(name=name, from_version=old.version, to_version=new.version),
        freshness=freshness,
    )


def first_safe_release(pkg: Package, version: str) -> str | None:
    """The lowest stable, non-retired release above `version` that no known advisory affects."""
    base = Version.try_parse(version)
    if base is None:
        return None
    candidates = sorted(
        (parsed, r.version)
        for r in pkg.releases
        if r.retirement is None
        and (parsed := Version.try_parse(r.version)) is not None
        and not parsed.is_prerelease
        and parsed > base
    )
    for _, text in candidates:
        if not any(advisory_affects(a, text) for a in pkg.advisories or []):
            return text
    return None


def outdated_row(spec: DepSpec, pkg: Package) -> OutdatedRow:
    """Everything `hex_outdated` says about one dependency, from its release list alone."""
    versions = [r.version for r in pkg.releases]
    retired = {r.version: r.retirement for r in pkg.releases if r.retirement is not None}
    latest = latest_stable(pkg)
    highest = None
    only_retired = False
    if spec.requirement is not None:
        requirement = Requirement.parse(spec.requirement)  # the deps parser only passes valid requirements
        highest = hex_pick(versions, requirement, exclude=retired)
        if highest is None:
            # Mix still resolves to a retired release when nothing else matches (with a warning): that
            # retired pick is the news, not "no release matches".
            highest = hex_pick(versions, requirement)
            only_retired = highest is not None
    checked = spec.version or highest
    note = None
    advisories: list[Advisory] | None = None
    step: UpdateKind = ""
    if checked is None:
        status: OutdatedStatus = "unresolved"
        note = f"no release matches {spec.requirement}" if spec.requirement else "no version given"
    else:
        if pkg.advisories is not None:
            advisories = [a for a in pkg.advisories if advisory_affects(a, checked)]
        try:
            step = update_kind(checked, latest) if latest else ""
        except VersionError:
            step = ""
        unpublished = spec.version is not None and pkg.releases_complete and spec.version not in versions
        if unpublished:
            note = f"{spec.version} is not a published release"
        elif only_retired:
            note = f"only retired releases match {spec.requirement}"
        status = _problem_status(bool(advisories), checked in retired, unpublished) or _STEP_STATUS.get(
            step, "current"
        )
    return OutdatedRow(
        name=spec.name,
        app=spec.app,
        status=status,
        current=spec.version,
        requirement=spec.requirement,
        checked=checked,
        latest_stable=latest,
        highest_in_requirement=highest,
        update=step,
        retirement=retired.get(checked) if checked else None,
        advisories=advisories,
        fixed_in=first_safe_release(pkg, checked) if advisories and checked else None,
        note=note,
    )


def _problem_status(vulnerable: bool, retired: bool, unpublished: bool) -> OutdatedStatus | None:
    """The most urgent problem of a checked version, or None when it only may be behind."""
    if vulnerable:
        return "vulnerable"
    if retired:
        return "retired"
    if unpublished:
        # A version hex.pm does not list cannot be fetched: a fresh `mix deps.get` fails on it.
        return "unpublished"
    return None


def sort_outdated(rows: list[OutdatedRow]) -> list[OutdatedRow]:
    """Problems first (the order of `OUTDATED_ORDER`), then by name."""
    rank = {status: i for i, status in enumerate(OUTDATED_ORDER)}
    return sorted(rows, key=lambda r: (rank[r.status], r.name))
