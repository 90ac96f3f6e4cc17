"""Input rules, stated once: the MCP input schemas advertise them and the service enforces them.

Every check runs before any upstream call and raises `InvalidInput` with a message that says what is wrong and
what a valid value looks like. Versions and requirements are parsed here, once, by `hex_mcp.versions` (the
advertised schemas bound their length only: the parser's message says what is wrong, a schema regex would not).
Because names and versions are also percent-encoded into paths
(`hex_mcp.backends.segment`), no input can change the upstream host or path.
"""

from __future__ import annotations

import re

from hex_mcp.errors import InvalidInput
from hex_mcp.versions import Requirement, VersionArg, VersionError, is_requirement, parse_version_arg

# Today's rule is lower-case, but hex.pm still serves packages named before it (e.g. addressBook). Letters,
# digits and _ are all safe in a URL path segment.
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
NAME_MIN, NAME_MAX = 2, 100
VERSION_MAX = 100
QUERY_MAX = 200
RELEASES_LIMIT_MAX = 500
SEARCH_LIMIT_MAX = 100
SEARCH_PAGE_MAX = 1000
SORTS = ("recent_downloads", "total_downloads", "name", "inserted_at", "updated_at")
# The one limit on pasted dependencies (the parser enforces it too): a 200-dependency mix.lock is about 60-80 kB;
# anything far larger is not a dependency list, and the bound keeps adversarial input to seconds of parsing.
DEPS_MAX = 200_000

_NAME_RE = re.compile(NAME_PATTERN)


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def package_name(value: str, field: str = "name") -> str:
    if not (NAME_MIN <= len(value) <= NAME_MAX) or not _NAME_RE.fullmatch(value):
        lowered = value.strip().lower()
        hint = f" Did you mean '{lowered}'?" if lowered != value and _NAME_RE.fullmatch(lowered) else ""
        raise InvalidInput(
            f"{field}={_shown(value)} is not a Hex package name: {NAME_MIN}-{NAME_MAX} characters, "
            f"letters (lower-case today), digits and _, starting with a letter (e.g. 'phoenix', 'plug_cowboy').{hint}"
        )
    return value


def version_arg(value: str | None, field: str = "version") -> VersionArg:
    """An exact version, "latest" (or nothing), or a requirement, parsed once."""
    text = (value or "").strip()
    try:
        if len(text) > VERSION_MAX:
            raise VersionError(f"it is longer than {VERSION_MAX} characters")
        return parse_version_arg(text)
    except VersionError as exc:
        if is_requirement(text):
            raise _bad_requirement(field, text, exc) from None
        raise InvalidInput(
            f"{field}={_shown(text)} is not a version, 'latest', or a requirement. {_reason(exc)}. Use 1.7.14, "
            "'latest', or a requirement such as '~> 1.7' or '>= 1.2.0 and < 2.0.0'."
        ) from None


def requirement(value: str | None, field: str = "requirement") -> Requirement | None:
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) > VERSION_MAX:
            raise VersionError(f"it is longer than {VERSION_MAX} characters")
        return Requirement.parse(text)
    except VersionError as exc:
        raise _bad_requirement(field, text, exc) from None


def _bad_requirement(field: str, text: str, exc: VersionError) -> InvalidInput:
    return InvalidInput(
        f"{field}={_shown(text)} is not a Hex version requirement. {_reason(exc)}. Examples: '~> 1.7', "
        "'>= 1.2.0', '~> 2.0 or ~> 3.0'."
    )


def _reason(exc: VersionError) -> str:
    """The part of a version error after "invalid version '...': ", as a sentence."""
    reason = str(exc).split("': ", 1)[-1].rstrip(".")
    return reason[:1].upper() + reason[1:]


def bounded(value: int, field: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise InvalidInput(f"{field}={value} is out of range: use {low}..{high}.")
    return value


def search_query(value: str) -> str:
    text = value.strip()
    if not text:
        raise InvalidInput("q is empty: give words to search for, or a filter such as depends:plug.")
    if len(text) > QUERY_MAX:
        raise InvalidInput(f"q is {len(text)} characters long; keep it under {QUERY_MAX}.")
    if any(ord(ch) < 32 for ch in text):
        raise InvalidInput("q contains control characters; use plain words and filters such as name:phx_*.")
    return text


def sort(value: str | None) -> str | None:
    if value is not None and value not in SORTS:
        raise InvalidInput(f"sort={_shown(value)} is not one of: {', '.join(SORTS)}.")
    return value


def deps_text(value: str) -> str:
    if not value.strip():
        raise InvalidInput(
            "deps is empty: paste a mix.lock, the deps list of a mix.exs, or lines such as 'jason 1.4.4'."
        )
    if len(value) > DEPS_MAX:
        raise InvalidInput(
            f"deps is {len(value)} characters long; the limit is {DEPS_MAX} (a 200-dependency mix.lock is "
            "about 60,000). Paste only the mix.lock or the deps list."
        )
    return value
