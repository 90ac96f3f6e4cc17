"""Registry facts in the domain model: a verified `RegistryPackage` as the `Package` and `Release` the tools use.

Pure. The registry carries versions, publication times (files written since 2026-05), dependencies, retirements,
checksums and advisories with the releases they affect; it carries no descriptions, downloads, docs flags,
publishers, Elixir requirements or build tools, so those stay None/empty here and come from the API where a tool
needs them.
"""

from __future__ import annotations

from typing import Any

from hex_mcp.models import Advisory, Dependency, Package, Release, ReleaseRef, Retirement
from hex_mcp.registry import RegistryAdvisory, RegistryPackage, RegistryRelease
from hex_mcp.versions import Version, VersionError


def package_from_registry(reg: RegistryPackage) -> Package:
    """The release list (newest first by SemVer) with retirements and, when the file records them, advisories."""
    refs = [ReleaseRef(version=r.version, published=_day(r), retirement=_retirement(r)) for r in reg.releases]
    return Package(
        name=reg.name,
        releases=_newest_first(refs),
        release_count=len(refs),
        releases_complete=True,
        retirements_known=True,
        advisories=_package_advisories(reg),
    )


def has_all_dates(reg: RegistryPackage) -> bool:
    """Whether every release carries `published_at` (files written before 2026-05 carry none)."""
    return all(r.published_at is not None for r in reg.releases)


def with_dates(pkg: Package, dated: Package) -> Package:
    """`pkg` with each undated release given the date `dated` (an API release list) has for it."""
    days = {r.version: r.published for r in dated.releases}
    refs = [
        r if r.published else r.model_copy(update={"published": days.get(r.version)}) for r in pkg.releases
    ]
    return pkg.model_copy(update={"releases": refs})


def find_release(reg: RegistryPackage, version: str) -> RegistryRelease | None:
    return next((r for r in reg.releases if r.version == version), None)


def release_from_registry(reg: RegistryPackage, rel: RegistryRelease, api: Release | None = None) -> Release:
    """One release: dependencies, retirement, checksum and publication date from the signed file, the rest
    (Elixir requirement, build tools, downloads, docs, publisher, links, snippet) from the API document if given.

    The API's advisories are kept when it has them: they carry the affected ranges and publication dates the
    registry leaves out.
    """
    deps = [
        Dependency(name=d.package, requirement=d.requirement, optional=d.optional, app=d.app)
        for d in sorted(rel.dependencies, key=lambda d: d.package)
    ]
    facts: dict[str, Any] = {
        "package": reg.name,
        "version": rel.version,
        "published": _day(rel) or (api.published if api is not None else None),
        "checksum": rel.outer_checksum.hex() if rel.outer_checksum is not None else None,
        "dependencies": deps,
        "retirement": _retirement(rel),
        "retirement_known": True,
    }
    if api is not None:
        if api.advisories is None:
            facts["advisories"] = _release_advisories(reg, rel)
        if facts["checksum"] is None:
            facts["checksum"] = api.checksum
        return api.model_copy(update=facts)
    return Release(**facts, advisories=_release_advisories(reg, rel))


def _day(rel: RegistryRelease) -> str | None:
    return rel.published_at.strftime("%Y-%m-%d") if rel.published_at is not None else None


def _retirement(rel: RegistryRelease) -> Retirement | None:
    if rel.retirement is None:
        return None
    return Retirement(reason=rel.retirement.reason, message=rel.retirement.message)


def _newest_first(refs: list[ReleaseRef]) -> list[ReleaseRef]:
    parsed: list[tuple[Version, ReleaseRef]] = []
    rest: list[ReleaseRef] = []
    for ref in refs:
        try:
            parsed.append((Version.parse(ref.version), ref))
        except VersionError:
            rest.append(ref)
    parsed.sort(key=lambda pair: pair[0], reverse=True)
    return [ref for _, ref in parsed] + rest


def _advisory(adv: RegistryAdvisory, affected: list[str]) -> Advisory:
    return Advisory(
        id=adv.id,
        summary=adv.summary or None,
        severity=adv.severity,
        score=adv.cvss_score,
        affected=affected,
        aliases=list(adv.aliases),
        url=adv.html_url or None,
    )


def _package_advisories(reg: RegistryPackage) -> list[Advisory] | None:
    """Each advisory with the releases its indexes point at, as requirements over runs of adjacent releases.

    The registry names affected releases one by one; runs of neighbours (in SemVer order) become
    `>= A and <= B`, so `upgrade.advisory_affects` answers exactly for every listed release.
    """
    if reg.advisories is None:
        return None
    ordered = sorted(reg.releases, key=_sort_key)
    runs: dict[int, list[list[str]]] = {}
    for position, rel in enumerate(ordered):
        for index in rel.advisory_indexes or ():
            spans = runs.setdefault(index, [])
            previous = ordered[position - 1] if position else None
            if spans and previous is not None and index in (previous.advisory_indexes or ()):
                spans[-1].append(rel.version)
            else:
                spans.append([rel.version])
    return [
        _advisory(
            adv, [f"== {s[0]}" if len(s) == 1 else f">= {s[0]} and <= {s[-1]}" for s in runs.get(i, [])]
        )
        for i, adv in enumerate(reg.advisories)
    ]


def _release_advisories(reg: RegistryPackage, rel: RegistryRelease) -> list[Advisory] | None:
    if reg.advisories is None or rel.advisory_indexes is None:
        return None
    known = _package_advisories(reg) or []
    return [known[i] for i in rel.advisory_indexes if 0 <= i < len(known)]


def _sort_key(rel: RegistryRelease) -> tuple[int, Version | None]:
    try:
        return (1, Version.parse(rel.version))
    except VersionError:
        return (0, None)
