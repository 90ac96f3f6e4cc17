"""HexService: the questions hex-mcp answers, independent of MCP.

Every upstream read goes through `fetch`, which applies the freshness policy (fresh cache → answer; expired →
revalidate with the ETag; failed → answer from a stale entry and say so), shares concurrent identical calls
(single flight), keeps to the monthly call budget, and parses before it caches so a malformed answer can never
poison the cache. The tool-level methods return the `*View` models the formatters render.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast
from urllib.parse import parse_qs, unquote

import anyio
import httpx2

from hex_mcp import __version__, validate
from hex_mcp.backends import BackendMapping, Endpoint, backend_for
from hex_mcp.cache import CacheEntry, ResponseCache, month_key
from hex_mcp.config import Settings
from hex_mcp.deps_input import DepsInputError, DepSpec, parse_deps
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
    OUTDATED_ORDER,
    DiffView,
    Freshness,
    MetaView,
    OutdatedRow,
    OutdatedStatus,
    OutdatedView,
    Package,
    PackageView,
    RateLimitInfo,
    Release,
    ReleasesView,
    ReleaseView,
    SearchView,
    SkippedDepView,
)
from hex_mcp.resolve import (
    check_version_text,
    matches,
    nearest_versions,
    newer_prerelease,
    parse_requirement,
    pick_version,
)
from hex_mcp.upgrade import DepCheck, build_diff, combined_freshness, outdated_row, sort_outdated
from hex_mcp.upstream import UpstreamClient, utc_iso
from hex_mcp.versions import (
    highest_matching,
    is_requirement,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
DESCRIPTION_LIMIT = 280
PACKAGE_RECENT_RELEASES = 5
OUTDATED_CONCURRENCY = 8  # parallel lookups per hex_outdated call: fast, yet far from hex.pm's rate window
COMPLETION_MAX = 100  # MCP caps completion values at 100
COMPLETION_SEARCH_LIMIT = 50
PARSED_MEMO_SIZE = 256  # parsed cache entries kept in memory; ecto's 185 releases parse to ~90 KB


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
            settings,
            http_transport=http_transport,
            on_attempt=lambda: self.cache.count_call(settings.backend),
        )
        self._flight = SingleFlight()
        # (cache key, parser) -> (fetched_at, etag, value) of the entry parsed last; see `_parse_entry`.
        self._parsed: dict[tuple[str, str], tuple[float, str | None, Any]] = {}

    async def aclose(self) -> None:
        await self.upstream.aclose()
        self.cache.close()

    # -- the fetch pipeline ----------------------------------------------------------------------------

    async def fetch(
        self, endpoint: Endpoint, parse: Callable[[Any], T], *, memo: str | None = None
    ) -> Fetched[T]:
        """The parsed answer for `endpoint`; `memo` names a parser that is not a bound method (see `_memo_key`)."""
        key = self.cache.key(endpoint)
        ttl = self.settings.ttls.for_endpoint(endpoint.kind)
        memo_key = self._memo_key(key, parse, memo)
        remembered = self._parsed.get(memo_key) if memo_key is not None else None
        if remembered is not None and self._usable(remembered[0], ttl):
            # A fresh answer this process already parsed: no disk read, no parse.
            self.cache.record_lookup(hit=True)
            stamp = CacheEntry(None, remembered[0], remembered[1])
            return Fetched(cast(T, remembered[2]), self._freshness(stamp, from_cache=True))
        entry = self.cache.get(key)
        if entry is not None and self._usable(entry.fetched_at, ttl):
            try:
                value = self._parse_entry(memo_key, entry, parse)
            except BadResponse:
                entry = None  # an entry written by an older, different parser: refetch
            else:
                self.cache.record_lookup(hit=True)
                return Fetched(value, self._freshness(entry, from_cache=True))
        self.cache.record_lookup(hit=False)
        if self.settings.offline:
            raise OfflineMiss(
                "Offline mode (HEX_MCP_OFFLINE / --offline) is on and the cache holds no answer for this "
                "question. Run `hex-mcp cache warm NAME` while online, or import a snapshot with "
                "`hex-mcp cache import FILE`."
            )
        result: Fetched[T] = await self._flight.run(
            key, lambda: self._refresh(endpoint, key, entry, ttl, parse, memo_key=memo_key)
        )
        return result

    def _usable(self, fetched_at: float, ttl: int) -> bool:
        """Fresh within its TTL, or any age in offline mode."""
        return self.settings.offline or time.time() - fetched_at < ttl

    def _memo_key(self, key: str, parse: Callable[[Any], T], memo: str | None) -> tuple[str, str] | None:
        """Where this process keeps its parse of a cache entry, or None when it must not keep one.

        Parsing dominates a warm call (phoenix's ~170 releases are validated and sorted every time), and the
        parsed models are frozen, so sharing them is safe. A bound-method parser is memoized under its name; a
        lambda only when the caller names it with `memo`, vouching that everything it captures is in the cache
        key. With the disk cache off nothing is kept, so `--no-cache` really means no caching.
        """
        func = getattr(parse, "__func__", None)
        name = memo or (func.__qualname__ if func is not None else None)
        if name is None or not self.cache.enabled:
            return None
        return (key, name)

    def _parse_entry(
        self, memo_key: tuple[str, str] | None, entry: CacheEntry, parse: Callable[[Any], T]
    ) -> T:
        """Parse a cache entry, reusing this process's last parse of the very same entry."""
        if memo_key is None:
            return parse(entry.data)
        hit = self._parsed.get(memo_key)
        if hit is not None and hit[0] == entry.fetched_at and hit[1] == entry.etag:
            return cast(T, hit[2])
        value = parse(entry.data)
        self._remember(memo_key, entry, value)
        return value

    def _remember(self, memo_key: tuple[str, str] | None, entry: CacheEntry, value: Any) -> None:
        if memo_key is None:
            return
        self._parsed.pop(memo_key, None)  # re-insert at the end: the dict's order is the eviction order
        self._parsed[memo_key] = (entry.fetched_at, entry.etag, value)
        if len(self._parsed) > PARSED_MEMO_SIZE:
            self._parsed.pop(next(iter(self._parsed)))

    async def _refresh(
        self,
        endpoint: Endpoint,
        key: str,
        entry: CacheEntry | None,
        ttl: int,
        parse: Callable[[Any], T],
        *,
        memo_key: tuple[str, str] | None,
    ) -> Fetched[T]:
        try:
            self._check_quota()
            response = await self.upstream.get(
                endpoint.path, endpoint.params_dict, etag=entry.etag if entry is not None else None
            )
            if response.status == 304:
                if entry is None:
                    raise BadResponse(
                        f"{self.settings.backend_label} answered 304 to a request without an ETag."
                    )
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
        self._remember(memo_key, fresh, value)
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

    def _freshness(
        self, entry: CacheEntry, *, from_cache: bool, stale_reason: str | None = None
    ) -> Freshness:
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
                self.backend.release_endpoint(name, version),
                lambda data: self.backend.parse_release(data, name),
                memo="parse_release",  # `name` is part of the release path, hence of the cache key
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
            refs = [r for r in refs if matches(req, r.version, include_prereleases)]
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
        text = (version or "").strip() or "latest"
        check_version_text(name, text)
        if text.lower() == "latest" or is_requirement(text):
            return pick_version((await self._releases(name)).value, name, text)
        return pick_version(Package(name=name), name, text)  # an exact version needs no release list

    async def release(self, name: str, version: str | None = None) -> ReleaseView:
        validate.package_name(name)
        version = validate.version_or_requirement(version)
        concrete, requested = await self.resolve_version(name, version)
        fetched = await self._release(name, concrete)
        latest = None
        if requested is not None:
            latest = (await self._releases(name)).value.latest_stable_version
        return ReleaseView(
            release=fetched.value,
            requested=requested,
            latest_stable_version=latest,
            freshness=fetched.freshness,
        )

    async def search(self, q: str, page: int = 1, limit: int = 20, sort: str | None = None) -> SearchView:
        query = validate.search_query(q)
        validate.bounded(page, "page", 1, validate.SEARCH_PAGE_MAX)
        validate.bounded(limit, "limit", 1, validate.SEARCH_LIMIT_MAX)
        sort = validate.sort(sort)
        endpoint = self.backend.search_endpoint(query, page, limit, sort if self.backend.can_sort else None)
        fetched = await self.fetch(
            endpoint,
            lambda data: self.backend.parse_search(data, query, page, limit, sort),
            memo="parse_search",  # query, page, limit and the effective sort are all in the cache key
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

    # -- upgrade assistant -------------------------------------------------------------------------------

    async def diff(self, name: str, from_version: str, to_version: str | None = None) -> DiffView:
        """What changes between two releases; either end may be a requirement, `to_version` also "latest"."""
        validate.package_name(name)
        from_text = validate.version_or_requirement(from_version, "from_version")
        to_text = validate.version_or_requirement(to_version, "to_version") or "latest"
        if from_text is None or from_text.lower() == "latest":
            raise InvalidInput(
                "from_version must be the version you start from (e.g. 1.7.14) or a requirement such as "
                "'~> 1.7'; 'latest' is accepted only for to_version."
            )
        if from_text == to_text:
            raise InvalidInput(
                f"from_version and to_version are both '{from_text}': give two different versions to compare."
            )
        check_version_text(name, from_text)
        check_version_text(name, to_text)
        # One read of the release list serves resolution, the count in between and (hex.pm) the advisories.
        listing = await self._releases(name)
        old, old_requested = pick_version(listing.value, name, from_text)
        new, new_requested = pick_version(listing.value, name, to_text)
        if old == new:
            raise InvalidInput(
                f"from_version '{from_text}' and to_version '{to_text}' both resolve to {name} {old}: "
                "nothing to compare. Call hex_releases to see the versions."
            )
        old_release = await self._release(name, old)
        new_release = await self._release(name, new)
        return build_diff(
            listing.value,
            old_release.value,
            new_release.value,
            from_requested=old_requested,
            to_requested=new_requested,
            freshness=combined_freshness([listing.freshness, old_release.freshness, new_release.freshness]),
        )

    async def outdated(self, deps: str) -> OutdatedView:
        """Check every Hex dependency of a pasted mix.lock / mix.exs / `name version` list in one call."""
        text = validate.deps_text(deps)
        try:
            parsed = parse_deps(text)
        except DepsInputError as exc:
            raise InvalidInput(f"deps could not be read: {exc}") from None
        checks: list[DepCheck] = []
        limiter = anyio.CapacityLimiter(OUTDATED_CONCURRENCY)

        async def check(spec: DepSpec) -> None:
            async with limiter:
                checks.append(await self._check_dep(spec))

        async with anyio.create_task_group() as tg:
            for spec in parsed.deps:
                tg.start_soon(check, spec)
        rows = sort_outdated([c.row for c in checks])
        fresh = [c.freshness for c in checks if c.freshness is not None]
        known = [c.retirements_known for c in checks if c.retirements_known is not None]
        return OutdatedView(
            input_format=parsed.format,
            source=self.settings.backend,
            checked=len(rows),
            counts={s: n for s in OUTDATED_ORDER if (n := sum(1 for r in rows if r.status == s))},
            rows=rows,
            skipped=[SkippedDepView(name=s.name, reason=s.reason) for s in parsed.skipped],
            retirements_known=all(known) if known else self.backend.has_advisories,
            advisories_known=self.backend.has_advisories,
            live_lookups=sum(1 for f in fresh if not f.from_cache),
            cached_lookups=sum(1 for f in fresh if f.from_cache),
            freshness=combined_freshness(fresh) if fresh else None,
        )

    async def _check_dep(self, spec: DepSpec) -> DepCheck:
        """One dependency, one cached read: hex.pm's package document has releases, retirements and
        advisories, the gateway's release list has the versions."""
        try:
            fetched = await self._releases(spec.name)
        except PackageNotFound:
            status: OutdatedStatus = "not_found"
            note = "not found on Hex"
        except HexError as exc:  # one failing dependency must not sink the other answers
            status, note = "error", _first_sentence(str(exc))
        else:
            pkg = fetched.value
            return DepCheck(outdated_row(spec, pkg), fetched.freshness, pkg.retirements_known)
        row = OutdatedRow(
            name=spec.name,
            app=spec.app,
            status=status,
            current=spec.version,
            requirement=spec.requirement,
            note=note,
        )
        return DepCheck(row, None, None)

    # -- completions -------------------------------------------------------------------------------------

    def cached_package_names(self) -> list[str]:
        """Names of the packages the cache holds answers about, from the configured backend."""
        return sorted({n for key in self.cache.cached_requests() if (n := package_name_from_request(key))})

    async def complete_package_names(self, prefix: str) -> tuple[list[str], bool]:
        """Package names starting with `prefix`: cached ones first, then hex.pm's `name:prefix*` search."""
        prefix = prefix.strip().lower()
        if prefix and not _NAME_PREFIX_RE.fullmatch(prefix):
            return [], False
        names = [n for n in self.cached_package_names() if n.startswith(prefix)]
        more = False
        if prefix:
            try:
                found = await self.search(f"name:{prefix}*", limit=COMPLETION_SEARCH_LIMIT)
            except HexError as exc:  # suggestions are best effort: offline, quota or outage → cache only
                log.debug("name completion search failed: %s", exc)
            else:
                names += [h.name for h in found.hits if h.name.startswith(prefix)]
                more = found.has_more
        unique = list(dict.fromkeys(names))
        return unique[:COMPLETION_MAX], more or len(unique) > COMPLETION_MAX

    async def complete_versions(self, name: str, prefix: str) -> list[str]:
        """Versions of `name` (newest first, plus "latest") starting with `prefix`; empty when unknown."""
        try:
            pkg = (await self._releases(validate.package_name(name))).value
        except HexError:
            return []
        values = ["latest", *(r.version for r in pkg.releases)]
        return [v for v in values if v.startswith(prefix.strip())][:COMPLETION_MAX]


# -- pure helpers ------------------------------------------------------------------------------------------


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


_NAME_RE = re.compile(validate.NAME_PATTERN)
_NAME_PREFIX_RE = re.compile(r"[a-z][a-z0-9_]*")


def package_name_from_request(request: str) -> str | None:
    """The package a cached `path?query` is about (either backend's shape), or None for searches and meta."""
    path, _, query = request.partition("?")
    if path.startswith("/packages/"):
        candidate = unquote(path[len("/packages/") :].split("/", 1)[0])
    elif path in ("/v1/package", "/v1/releases", "/v1/release"):
        candidate = (parse_qs(query).get("name") or [""])[0]
    else:
        return None
    return candidate if _NAME_RE.fullmatch(candidate) else None
