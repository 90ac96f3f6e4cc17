"""What a verified Hex registry file says, as frozen dataclasses, and the one error reading one can raise.

Fields that hex.pm added in 2026-05 (`published_at`, advisories, advisory indexes, aliases) are `None` when the
file does not carry them: a registry object is rewritten only when its package changes or a full rebuild runs, so
an absent field means "this file predates the field", not "none".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from hex_mcp.errors import HexError

RegistryStep = Literal[
    "too_large",
    "not_gzip",
    "truncated",
    "malformed",
    "missing_signature",
    "bad_signature",
    "wrong_repository",
    "wrong_name",
]

_ADVICE: dict[RegistryStep, str] = {
    "too_large": "It is over the size limit set for registry files; use the hex.pm API instead.",
    "not_gzip": "The download is not a registry file (perhaps an error page); fetch it again or use the hex.pm API.",
    "truncated": "The download ended early; fetch it again or use the hex.pm API.",
    "malformed": "The file is damaged or not a registry file; fetch it again or use the hex.pm API.",
    "missing_signature": (
        "Unsigned data cannot be trusted; fetch it again from repo.hex.pm (a mirror may be altering it) "
        "or use the hex.pm API."
    ),
    "bad_signature": (
        "It was altered or not signed by the repository's key, so none of it was used; fetch it again from "
        "repo.hex.pm or use the hex.pm API."
    ),
    "wrong_repository": (
        "It is a genuine file of another repository, served in place of the one asked for (a misconfigured or "
        "malicious mirror); check the repository URL or use the hex.pm API."
    ),
    "wrong_name": (
        "It is a genuine file of another package, served in place of the one asked for (a misconfigured or "
        "malicious mirror); check the repository URL or use the hex.pm API."
    ),
}


class RegistryError(HexError):
    """A registry file was rejected; `step` names the check that failed. Nothing from such a file is used."""

    retryable = False

    def __init__(self, step: RegistryStep, subject: str, detail: str) -> None:
        self.step: RegistryStep = step
        self.subject = subject
        self.detail = detail
        super().__init__(
            f"registry file {subject} failed verification ({step.replace('_', ' ')}): {detail}. {_ADVICE[step]}"
        )


@dataclass(frozen=True, slots=True)
class RegistryRetirement:
    """Why a release was retired. `reason` is hex.pm's API name ("other", "invalid", "security", "deprecated",
    "renamed"), or "unknown(N)" for a value newer than this reader."""

    reason: str
    message: str | None


@dataclass(frozen=True, slots=True)
class RegistryDependency:
    package: str
    requirement: str
    optional: bool
    app: str  # the OTP application name; the registry omits it when it equals the package name
    repository: str | None  # None: the same repository as the release; otherwise the dependency's repository


@dataclass(frozen=True, slots=True)
class RegistryAdvisory:
    id: str
    summary: str
    html_url: str
    severity: str | None  # "none", "low", "medium", "high", "critical", "unknown(N)"; None when not given
    cvss_score: float | None
    api_url: str
    aliases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RegistryRelease:
    version: str
    inner_checksum: bytes  # SHA-256 of the tarball's contents (deprecated by hex.pm, still always present)
    outer_checksum: (
        bytes | None
    )  # SHA-256 of the .tar file, as the API's `checksum`; absent in very old files
    dependencies: tuple[RegistryDependency, ...]
    retirement: RegistryRetirement | None
    advisory_indexes: tuple[int, ...] | None  # indexes into RegistryPackage.advisories; None: unknown
    published_at: datetime | None  # UTC; None: the file predates the field


@dataclass(frozen=True, slots=True)
class RegistryPackage:
    """Every release of one package, from `/packages/NAME`.

    `advisories` is None unless the file shows it was written by a builder that knows about advisories: it lists
    at least one advisory, one release carries advisory indexes, or one release carries `published_at` (added by
    the same 2026-05 builder change). An empty repeated field is simply not written, so an older file without
    any of these cannot tell "no advisories" from "not recorded" and reads as None. When `advisories` is known,
    releases without indexes get `advisory_indexes == ()`; otherwise None.
    """

    name: str
    repository: str
    releases: tuple[RegistryRelease, ...]
    advisories: tuple[RegistryAdvisory, ...] | None


@dataclass(frozen=True, slots=True)
class RegistryVersionsEntry:
    """One package's row in `/versions`: its versions (ascending), and which are retired or have advisories.

    `with_advisories` is None when the file says nothing about advisories at all (see RegistryVersions).
    """

    name: str
    versions: tuple[str, ...]
    retired: frozenset[str]
    with_advisories: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class RegistryVersions:
    """`/versions`: every package of the repository with all its versions.

    If no row in the whole file carries advisory indexes, the file either predates them or the repository has no
    advisories at all; both read as unknown, so every row's `with_advisories` is None. If any row carries them,
    the builder knew about advisories, and rows without them get an empty set. The retired sets may lag
    `/packages/NAME` until the next index rebuild; the package file is authoritative.
    """

    repository: str
    packages: tuple[RegistryVersionsEntry, ...]


@dataclass(frozen=True, slots=True)
class RegistryNames:
    """`/names`: every package name, with `updated_at[i]` the (approximate) last change of `names[i]`,
    or None when the file does not say."""

    repository: str
    names: tuple[str, ...]
    updated_at: tuple[datetime | None, ...]
