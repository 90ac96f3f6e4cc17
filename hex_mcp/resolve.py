"""Which release a question means: "latest stable", a requirement's pick, nearest neighbours.

Pure functions over `hex_mcp.models.Package`, shared by every tool, so each of these facts has one definition:

* **pre-release**: `hex_mcp.versions.is_prerelease` (SemVer: a `-pre` part).
* **latest stable**: the newest release by SemVer that is not a pre-release and not retired. hex.pm's own
  `latest_stable_version` ignores retirement and is missing from older documents; it only stands in when the
  known release list holds no stable release at all (the gateway lists only recent releases).
* **a requirement's pick**: Hex's resolver rule (`hex_mcp.versions.hex_pick`): every version inside the range
  qualifies, stable releases first, newest first; retired releases are left out.
"""

from __future__ import annotations

from hex_mcp.errors import InvalidInput, NotFound, ReleaseNotFound
from hex_mcp.models import Package
from hex_mcp.versions import Exact, Latest, Req, Requirement, Version, VersionArg, VersionError, hex_pick


def matches(req: Requirement, version: str, allow_pre: bool) -> bool:
    try:
        return req.matches(Version.parse(version), allow_pre=allow_pre)
    except VersionError:
        return False


def latest_stable(pkg: Package) -> str | None:
    """The latest stable release (see the module docstring); None when there is no stable release."""
    newest_retired = None
    for ref in pkg.releases:  # newest first
        version = Version.try_parse(ref.version)
        if version is None or version.is_prerelease:
            continue
        if ref.retirement is None:
            return ref.version
        newest_retired = newest_retired or ref.version
    # Every stable release retired: the newest of them is still the latest stable, and its retirement is shown.
    return newest_retired or pkg.upstream_latest_stable


def retired_above(pkg: Package, chosen: str) -> str | None:
    """The newest stable release above `chosen` that was passed over because it is retired."""
    floor = Version.try_parse(chosen)
    for ref in pkg.releases:  # newest first
        version = Version.try_parse(ref.version)
        if version is None or version.is_prerelease or (floor is not None and version <= floor):
            continue
        if ref.retirement is not None:
            return ref.version
    return None


def newer_prerelease(pkg: Package) -> str | None:
    """A pre-release newer than the latest stable release, which agents must not mistake for "latest"."""
    candidate = pkg.releases[0].version if pkg.releases else pkg.upstream_latest
    newest = Version.try_parse(candidate) if candidate else None
    if newest is None or not newest.is_prerelease:
        return None
    stable = latest_stable(pkg)
    stable_version = Version.try_parse(stable) if stable else None
    if stable_version is not None and newest < stable_version:
        return None
    return candidate


def nearest_versions(pkg: Package, wanted: str, count: int = 3) -> list[str]:
    """Existing versions closest to `wanted`: the ones just below and above it in SemVer order."""
    target = Version.try_parse(wanted)
    if target is None:
        return [r.version for r in pkg.releases[:count]]
    parsed = sorted((v, ref.version) for ref in pkg.releases if (v := Version.try_parse(ref.version)))
    below = [v for parsed_v, v in parsed if parsed_v < target][-2:]
    above = [v for parsed_v, v in parsed if parsed_v > target][:2]
    return (below + above)[: count + 1]


def pick_version(pkg: Package, name: str, arg: VersionArg) -> tuple[str, str | None]:
    """Resolve a version argument in a release list; returns (version, what was asked, None for an exact one)."""
    if isinstance(arg, Exact):
        return str(arg.version), None
    if isinstance(arg, Latest):
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
    versions = [r.version for r in pkg.releases]
    retired = {r.version for r in pkg.releases if r.retirement}
    chosen = hex_pick(versions, arg.requirement, exclude=retired)
    if chosen is None:
        raise ReleaseNotFound(name, arg.text, versions[:3])
    return chosen, arg.text


def pick_two(
    pkg: Package, name: str, old_arg: VersionArg, new_arg: VersionArg
) -> tuple[tuple[str, str | None], tuple[str, str | None]]:
    """Both ends of a comparison, resolved; `InvalidInput` when they name the same release."""
    old, new = pick_version(pkg, name, old_arg), pick_version(pkg, name, new_arg)
    if old[0] == new[0]:
        raise InvalidInput(
            f"from_version '{old_arg}' and to_version '{new_arg}' both resolve to {name} {old[0]}: "
            "nothing to compare. Call hex_releases to see the versions."
        )
    return old, new


def needs_release_list(arg: VersionArg) -> bool:
    """An exact version is answered without reading the package's release list."""
    return isinstance(arg, Latest | Req)
