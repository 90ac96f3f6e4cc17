"""The errors hex-mcp raises, each with a message written for the model that reads it.

    HexError                      anything the server can explain to a caller
    ├── InvalidInput              an argument was rejected before any upstream call
    ├── NotFound
    │   ├── PackageNotFound       no such package on Hex
    │   ├── ReleaseNotFound       the package exists, the version does not (names the nearest ones)
    │   └── ReleaseDocMissing     the version is listed, but its own document is not served
    ├── UpstreamError             upstream answered, but not with data
    │   ├── AuthError             401/403: key missing, invalid or blocked
    │   ├── PlanError             402: the gateway plan does not cover the call
    │   ├── RateLimited           429 or a closed rate window (carries when to retry)
    │   ├── QuotaExhausted        the local monthly call budget is spent
    │   └── BadResponse           malformed, oversized, redirected or wrongly shaped answer
    ├── UpstreamUnavailable       5xx, timeouts, refused connections
    ├── OfflineMiss               offline mode and nothing cached for this question
    └── RegistryUnavailable       HEX_MCP_REGISTRY=only and the registry could not answer

HTTP failures become these in exactly one place, `hex_mcp.upstream`; the server turns any `HexError` into an
`isError` tool result carrying `str(error)`. `retryable` marks the failures a stale cache entry may paper over.
"""

from __future__ import annotations

from collections.abc import Sequence


class HexError(Exception):
    """Base of every error hex-mcp explains to its caller."""

    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class RegistryUnavailable(HexError):
    """HEX_MCP_REGISTRY=only and the registry could not answer; the API was not asked."""


class InvalidInput(HexError):
    """An argument failed validation; nothing was sent upstream."""


class NotFound(HexError):
    """The registry has no such thing."""


class PackageNotFound(NotFound):
    """`suggestions`: existing names close to `name` (from the registry's name list), best first."""

    def __init__(self, name: str, suggestions: Sequence[str] = ()) -> None:
        lowered = name.lower()
        close = list(suggestions) or ([lowered] if lowered != name else [])
        hint = " Did you mean " + " or ".join(f"'{s}'" for s in close) + "?" if close else ""
        super().__init__(
            f"No package '{name}' on Hex.{hint} Package names are exact and lower-case; "
            f"try hex_search with q='{lowered}' to find the right name."
        )
        self.name = name
        self.suggestions = tuple(suggestions)


class ReleaseNotFound(NotFound):
    def __init__(self, name: str, version: str, nearest: Sequence[str] = ()) -> None:
        hint = f" Nearest existing versions: {', '.join(nearest)}." if nearest else ""
        super().__init__(
            f"{name} has no release {version}.{hint} Call hex_releases with name='{name}' to list all versions."
        )
        self.name = name
        self.version = version
        self.nearest = tuple(nearest)


class ReleaseDocMissing(NotFound):
    """The package lists the version, yet the upstream has no document for it (an upstream inconsistency)."""

    def __init__(self, name: str, version: str, label: str) -> None:
        super().__init__(
            f"{label} lists {name} {version}, but its release document could not be fetched (HTTP 404). Try again "
            f"later, or ask for another version (hex_releases with name='{name}' lists them)."
        )
        self.name = name
        self.version = version


class UpstreamError(HexError):
    """Upstream answered, but not with the data asked for."""


class AuthError(UpstreamError):
    """The upstream refused the credentials (or the caller's address)."""


class PlanError(UpstreamError):
    """The gateway plan does not cover the call (HTTP 402)."""


class RateLimited(UpstreamError):
    """Upstream asked us to slow down; `retry_at` is a UNIX time when known."""

    retryable = True

    def __init__(self, message: str, retry_at: float | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class QuotaExhausted(UpstreamError):
    retryable = True


class BadResponse(UpstreamError):
    """The upstream answer could not be used (malformed, too large, wrong shape, redirected)."""

    retryable = True


class UpstreamUnavailable(HexError):
    """Upstream could not be reached or failed on its side."""

    retryable = True


class LookupBoundReached(HexError):
    """A tool call used up its bound of upstream lookups; nothing was sent for this one."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"not checked: this call reached its bound of {limit} upstream lookups (HEX_MCP_MAX_LOOKUPS); "
            "call again to check the rest, answers fetched so far are cached"
        )
        self.limit = limit


class OfflineMiss(HexError):
    """Offline mode is on and the cache holds nothing for this question."""
