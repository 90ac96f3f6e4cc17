"""HexService: the questions hex-mcp answers, independent of MCP.

Every upstream read goes through `fetch`, which applies the freshness policy (fresh cache → answer; expired →
revalidate with the ETag; failed → answer from a stale entry and say so), shares concurrent identical calls
(single flight), keeps to the monthly call budget, and parses before it caches so a malformed answer can never
poison the cache. The tool-level methods return the `*View` models the formatters render.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import anyio
import httpx2

from hex_mcp import __version__, validate
from hex_mcp.backends import BackendMapping, Endpoint, backend_for
from hex_mcp.cache import CacheEntry, ResponseCache, month_key
from hex_mcp.config import Settings
from hex_mcp.errors import (
    BadResponse,
    HexError,
    InvalidInput,
    NotFound,
    OfflineMiss,
    PackageNotFound,
    QuotaExhausted,
    ReleaseNotFound,
)
from hex_mcp.models import (
    Freshness,
    MetaView,
    Package,
    PackageView,
    RateLimitInfo,
    Release,
    ReleaseRef,
    ReleasesView,
    ReleaseView,
    SearchView,
)
from hex_mcp.upstream import UpstreamClient, utc_iso
from hex_mcp.versions import Requirement, Version, VersionError, highest_matching, is_requirement

log = logging.getLogger(__name__)

T = TypeVar("T")
DESCRIPTION_LIMIT = 280
PACKAGE_RECENT_RELEASES = 5


@dataclass(frozen=True)
class Fetched(Generic[T]):
    value: T
    freshness: Freshness


class _Flight:
    def __init__(self) -> None:
        self.done = anyio.Event()
        self.result: Any = None
        self.error: Exception | None = None
        self.finished = False


class SingleFlight:
    """Concurrent calls with the same key share the first caller's work."""

    def __init__(self) -> None:
        self._flights: dict[str, _Flight] = {}

    async def run(self, key: str, work: Callable[[], Any]) -> Any:
        while True:
            flight = self._flights.get(key)
            if flight is None:
                break
            await flight.done.wait()
            if flight.error is not None:
                raise flight.error
            if flight.finished:
                return flight.result
            # The leader was cancelled before finishing: take over.
        flight = _Flight()
        self._flights[key] = flight
        try:
            flight.result = await work()
            flight.finished = True
            return flight.result
        except Exception as exc:
            flight.error = exc
            raise
        finally:
            del self._flights[key]
            flight.done.set()


class HexService:
    """Answers package questions from the cache or the selected backend."""

    def __init__(
        self,
        settings: Settings,
        *,
        http_transport: httpx2.AsyncBaseTransport | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        self.settings = settings
        self.backend: BackendMapping = backend_for(settings.backend)
        self.cache = cache if cache is not None else ResponseCache(settings)
        self.upstream = UpstreamClient(
            settings, http_transport=http_transport, on_attempt=lambda: self.cache.count_call(settings.backend)
        )
        self._flight = SingleFlight()

    async def aclose(self) -> None:
        await self.upstream.aclose()
        self.cache.close()

    # -- the fetch pipeline ----------------------------------------------------------------------------

    async def fetch(self, endpoint: Endpoint, parse: Callable[[Any], T]) -> Fetched[T]:
        key = self.cache.key(endpoint)
        entry = self.cache.get(key)
        ttl = self.settings.ttls.for_endpoint(endpoint.kind)
        if entry is not None and (self.settings.offline or time.time() - entry.fetched_at < ttl):
            try:
                value = parse(entry.data)
            except BadResponse:
                entry = None  # an entry written by an older, different parser: refetch
            else:
                self.cache.record_lookup(hit=True)
                return Fetched(value, self._freshness(entry, from_cache=True))
        self.cache.record_lookup(hit=False)
        if self.settings.offline:
            raise OfflineMiss(
                f"Offline mode (HEX_MCP_OFFLINE / --offline) is on and the cache holds no answer for this "
                f"question. Run `hex-mcp cache warm NAME` while online, or import a snapshot with "
                f"`hex-mcp cache import FILE`."
            )
        result: Fetched[T] = await self._flight.run(key, lambda: self._refresh(endpoint, key, entry, ttl, parse))
        return result

    async def _refresh(
        self, endpoint: Endpoint, key: str, entry: CacheEntry | None, ttl: int, parse: Callable[[Any], T]
    ) -> Fetched[T]:
        try:
            self._check_quota()
            response = await self.upstream.get(
                endpoint.path, endpoint.params_dict, etag=entry.etag if entry is not None else None
            )
            if response.status == 304:
                if entry is None:
                    raise BadResponse(f"{self.settings.backend_label} answered 304 to a request without an ETag.")
                fresh = CacheEntry(entry.data, time.time(), response.etag or entry.etag)
            else:
                fresh = CacheEntry(response.data, time.time(), response.etag)
            value = parse(fresh.data)  # parse before caching: a bad answer is never stored
        except HexError as exc:
            if exc.retryable and entry is not None:
                stale_value = self._parse_stale(entry, parse)
                if stale_value is not None:
                    reason = _first_sentence(str(exc))
                    log.warning("serving stale answer for %s: %s", endpoint.path, reason)
                    return Fetched(stale_value, self._freshness(entry, from_cache=True, stale_reason=reason))
            raise
        self.cache.set(key, fresh, ttl)
        return Fetched(value, self._freshness(fresh, from_cache=False))

    @staticmethod
    def _parse_stale(entry: CacheEntry, parse: Callable[[Any], T]) -> T | None:
        try:
            return parse(entry.data)
        except BadResponse:
            return None

    def _check_quota(self) -> None:
        quota = self.settings.monthly_quota
        if quota is None:
            return
        used = self.cache.calls_this_month(self.settings.backend)
        if used >= quota:
            raise QuotaExhausted(
                f"The monthly upstream call budget is spent (HEX_MCP_MONTHLY_QUOTA={quota}; {used} calls in "
                f"{month_key()} UTC). Answers come from the cache only until next month; raise "
                "HEX_MCP_MONTHLY_QUOTA to allow more calls."
            )

    def _freshness(self, entry: CacheEntry, *, from_cache: bool, stale_reason: str | None = None) -> Freshness:
        return Freshness(
            source=self.settings.backend,
            fetched_at=utc_iso(entry.fetched_at),
            age_seconds=max(0, int(time.time() - entry.fetched_at)),
            from_cache=from_cache,
            stale_reason=stale_reason,
        )

    # -- reads with domain errors ---------------------------------------------------------------------

    async def _package(self, name: str) -> Fetched[Package]:
        try:
            return await self.fetch(self.backend.package_endpoint(name), self.backend.parse_package)
        except NotFound:
            raise PackageNotFound(name) from None

    async def _releases(self, name: str) -> Fetched[Package]:
        try:
            return await self.fetch(self.backend.releases_endpoint(name), self.backend.parse_releases)
        except NotFound:
            raise PackageNotFound(name) from None

    async def _release(self, name: str, version: str) -> Fetched[Release]:
        try:
            return await self.fetch(
                self.backend.release_endpoint(name, version), lambda data: self.backend.parse_release(data, name)
            )
        except NotFound:
            releases = await self._releases(name)  # raises PackageNotFound when the package itself is missing
            raise ReleaseNotFound(name, version, nearest_versions(releases.value, version)) from None

    # -- tools -------------------------------------------------------------------------------------------

    async def package(self, name: str) -> PackageView:
        fetched = await self._package(validate.package_name(name))
        pkg = fetched.value
        description, truncated = shorten(pkg.description, DESCRIPTION_LIMIT)
        return PackageView(
            name=pkg.name,
            description=description,
            description_truncated=truncated,
            licenses=pkg.licenses,
            links=pkg.links,
            owners=pkg.owners,
            downloads=pkg.downloads,
            latest_stable_version=pkg.latest_stable_version,
            latest_prerelease=newer_prerelease(pkg),
            release_count=pkg.release_count,
            recent_releases=pkg.releases[:PACKAGE_RECENT_RELEASES],
            retired_count=sum(1 for r in pkg.releases if r.retirement) if pkg.retirements_known else None,
            advisories=pkg.advisories,
            inserted=pkg.inserted_at,
            updated=pkg.updated_at,
            html_url=pkg.html_url,
            docs_url=pkg.docs_url,
            mix_snippet=pkg.mix_snippet,
            rebar_snippet=pkg.rebar_snippet,
            freshness=fetched.freshness,
        )

    async def releases(
        self, name: str, limit: int = 50, requirement: str | None = None, include_prereleases: bool = False
    ) -> ReleasesView:
        validate.package_name(name)
        validate.bounded(limit, "limit", 1, validate.RELEASES_LIMIT_MAX)
        requirement = validate.requirement(requirement)
        req = parse_requirement(requirement) if requirement else None
        fetched = await self._releases(name)
        pkg = fetched.value
        refs = pkg.releases
        highest = matching = None
        if req is not None:
            refs = [r for r in refs if _matches(req, r.version, include_prereleases)]
            matching = len(refs)
            retired = {r.version for r in refs if r.retirement}
            highest = highest_matching(
                [r.version for r in refs], req, allow_pre=include_prereleases, exclude=retired
            )
        shown = refs[:limit]
        return ReleasesView(
            name=name,
            total=pkg.release_count if pkg.release_count is not None else len(pkg.releases),
            shown=len(shown),
            latest_stable_version=pkg.latest_stable_version,
            latest_prerelease=newer_prerelease(pkg),
            requirement=str(req) if req is not None else None,
            highest_match=highest,
            matching=matching,
            include_prereleases=include_prereleases,
            retirements_known=pkg.retirements_known,
            releases=shown,
            freshness=fetched.freshness,
        )

    async def resolve_version(self, name: str, version: str | None) -> tuple[str, str | None]:
        """Turn `None`/"latest"/a requirement into one concrete version; returns (version, what was asked)."""
        if version is None or version.strip().lower() in ("", "latest"):
            pkg = (await self._releases(name)).value
            chosen = latest_stable(pkg)
            if chosen is None:
                raise ReleaseNotFound(name, "latest", [r.version for r in pkg.releases[:3]])
            return chosen, "latest"
        text = version.strip()
        if is_requirement(text):
            req = parse_requirement(text)
            pkg = (await self._releases(name)).value
            retired = {r.version for r in pkg.releases if r.retirement}
            chosen = highest_matching([r.version for r in pkg.releases], req, allow_pre=False, exclude=retired)
            if chosen is None:
                chosen = highest_matching([r.version for r in pkg.releases], req, allow_pre=True, exclude=retired)
            if chosen is None:
                raise ReleaseNotFound(name, text, [r.version for r in pkg.releases[:3]])
            return chosen, text
        try:
            Version.parse(text)
        except VersionError as exc:
            raise InvalidInput(
                f"'{text}' is not a version (use MAJOR.MINOR.PATCH like 1.7.14, 'latest', or a requirement "
                f"like '~> 1.7'): {exc}"
            ) from None
        return text, None

    async def release(self, name: str, version: str | None = None) -> ReleaseView:
        validate.package_name(name)
        version = validate.version_or_requirement(version)
        concrete, requested = await self.resolve_version(name, version)
        fetched = await self._release(name, concrete)
        latest = None
        if requested is not None:
            latest = (await self._releases(name)).value.latest_stable_version
        return ReleaseView(
            release=fetched.value, requested=requested, latest_stable_version=latest, freshness=fetched.freshness
        )

    async def search(self, q: str, page: int = 1, limit: int = 20, sort: str | None = None) -> SearchView:
        query = validate.search_query(q)
        validate.bounded(page, "page", 1, validate.SEARCH_PAGE_MAX)
        validate.bounded(limit, "limit", 1, validate.SEARCH_LIMIT_MAX)
        sort = validate.sort(sort)
        endpoint = self.backend.search_endpoint(query, page, limit, sort if self.backend.can_sort else None)
        fetched = await self.fetch(
            endpoint, lambda data: self.backend.parse_search(data, query, page, limit, sort)
        )
        result = fetched.value
        note = None
        if not self.backend.can_sort and sort is not None:
            note = f"the gateway cannot sort; sort={sort} was ignored (results are in its own order)"
        return SearchView(
            query=query,
            page=page,
            limit=limit,
            sort=result.sort,
            sort_note=note,
            hits=result.hits,
            has_more=result.has_more,
            freshness=fetched.freshness,
        )

    async def meta(self) -> MetaView:
        stats = self.cache.stats()
        rate = self.upstream.rate
        gateway = gateway_error = None
        endpoint = self.backend.meta_endpoint()
        if endpoint is not None:
            try:
                gateway = (await self.fetch(endpoint, self.backend.parse_meta)).value
            except HexError as exc:
                gateway_error = _first_sentence(str(exc))
        return MetaView(
            server_version=__version__,
            backend=self.settings.backend,
            base_url=self.settings.base_url,
            key_configured=self.settings.api_key is not None,
            offline=self.settings.offline,
            cache_dir=stats["dir"],
            cache_entries=stats["entries"],
            cache_size_bytes=stats["size_bytes"],
            hit_ratio=stats["hit_ratio"],
            upstream_calls_month=self.cache.calls_this_month(self.settings.backend),
            monthly_quota=self.settings.monthly_quota,
            rate_limit=(
                RateLimitInfo(
                    limit=rate.limit,
                    remaining=rate.remaining,
                    reset=utc_iso(rate.reset) if rate.reset is not None else None,
                )
                if rate.seen_at is not None
                else None
            ),
            ttls={
                "package": self.settings.ttls.package,
                "releases": self.settings.ttls.releases,
                "release": self.settings.ttls.release,
                "search": self.settings.ttls.search,
                "meta": self.settings.ttls.meta,
            },
            gateway=gateway,
            gateway_error=gateway_error,
        )


# -- pure helpers ------------------------------------------------------------------------------------------


def parse_requirement(text: str) -> Requirement:
    try:
        return Requirement.parse(text)
    except VersionError as exc:
        raise InvalidInput(
            f"'{text}' is not a valid Hex version requirement ({exc}). Examples: '~> 1.7', '>= 1.2.0 and < 2.0.0'."
        ) from None


def _matches(req: Requirement, version: str, allow_pre: bool) -> bool:
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


def shorten(text: str | None, limit: int) -> tuple[str | None, bool]:
    if text is None:
        return None, False
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat, False
    cut = flat[:limit].rsplit(" ", 1)[0].rstrip(",.;:")
    return cut + " …", True


def _first_sentence(message: str) -> str:
    head = message.split(". ", 1)[0]
    return head.rstrip(".")


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
