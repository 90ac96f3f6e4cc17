"""Resolving versions in a release list: "latest", requirements, nearest neighbours, pre-release rules.

Pure functions over `hex_mcp.models.Package`, shared by the read tools and the upgrade assistant. "Latest" means
the newest stable release that is not retired; a requirement follows Mix (no pre-releases unless it names one).
"""

from __future__ import annotations

from hex_mcp.errors import InvalidInput, NotFound, ReleaseNotFound
from hex_mcp.models import Package
from hex_mcp.versions import Requirement, Version, VersionError, highest_matching, is_requirement


def parse_requirement(text: str) -> Requirement:
    try:
        return Requirement.parse(text)
    except VersionError as exc:
        raise InvalidInput(
            f"'{text}' is not a valid Hex version requirement ({exc}). Examples: '~> 1.7', '>= 1.2.0 and < 2.0.0'."
        ) from None


def matches(req: Requirement, version: str, allow_pre: bool) -> bool:
    try:
        return req.matches(Version.parse(version), allow_pre=allow_pre)
    except VersionError:
        return False


def latest_stable(pkg: Package) -> str | None:
    """The latest stable release that is not retired (hex.pm's own pick ignores retirement)."""
    for ref in pkg.releases:
        try:
            if Version.parse(ref.version).is_prerelease:
                continue
        except VersionError:
            continue
        if ref.retirement is None:
            return ref.version
    return pkg.latest_stable_version


def newer_prerelease(pkg: Package) -> str | None:
    """A pre-release newer than the latest stable release, which agents must not mistake for "latest"."""
    candidate = pkg.latest_version or (pkg.releases[0].version if pkg.releases else None)
    if candidate is None or candidate == pkg.latest_stable_version:
        return None
    try:
        version = Version.parse(candidate)
        if not version.is_prerelease:
            return None
        if pkg.latest_stable_version and version < Version.parse(pkg.latest_stable_version):
            return None
    except VersionError:
        return None
    return candidate


def nearest_versions(pkg: Package, wanted: str, count: int = 3) -> list[str]:
    """Existing versions closest to `wanted`: the ones just below and above it in SemVer order."""
    try:
        target = Version.parse(wanted)
    except VersionError:
        return [r.version for r in pkg.releases[:count]]
    parsed: list[tuple[Version, str]] = []
    for ref in pkg.releases:
        try:
            parsed.append((Version.parse(ref.version), ref.version))
        except VersionError:
            continue
    parsed.sort()
    below = [v for parsed_v, v in parsed if parsed_v < target][-2:]
    above = [v for parsed_v, v in parsed if parsed_v > target][:2]
    return (below + above)[: count + 1]


def pick_version(pkg: Package, name: str, text: str) -> tuple[str, str | None]:
    """Resolve "latest", a requirement or an exact version in a release list; returns (version, asked)."""
    if text.strip().lower() == "latest":
        chosen = latest_stable(pkg)
        if chosen is None:
            newest = [r.version for r in pkg.releases[:3]]
            raise NotFound(
                f"{name} has no stable release yet, only pre-releases ({', '.join(newest)}). Ask for one by "
                f"version, e.g. version='{newest[0]}'."
                if newest
                else f"{name} has no releases."
            )
        return chosen, "latest"
    if is_requirement(text):
        req = parse_requirement(text)
        versions = [r.version for r in pkg.releases]
        retired = {r.version for r in pkg.releases if r.retirement}
        # Mix's rule first (no pre-releases unless named); a requirement only pre-releases meet still answers.
        chosen = highest_matching(versions, req, exclude=retired) or highest_matching(
            versions, req, allow_pre=True, exclude=retired
        )
        if chosen is None:
            raise ReleaseNotFound(name, text, versions[:3])
        return chosen, text
    try:
        Version.parse(text)
    except VersionError as exc:
        raise InvalidInput(
            f"'{text}' is not a version (use MAJOR.MINOR.PATCH like 1.7.14, 'latest', or a requirement "
            f"like '~> 1.7'): {exc}"
        ) from None
    return text, None


def check_version_text(name: str, text: str) -> None:
    """Reject a malformed version or requirement before any upstream call (`pick_version` would, after one)."""
    if is_requirement(text):
        parse_requirement(text)
    elif text.strip().lower() != "latest":
        pick_version(Package(name=name), name, text)
