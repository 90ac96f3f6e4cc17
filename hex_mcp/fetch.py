"""The fetch pipeline: how one upstream question becomes a parsed, cached, dated answer.

`Fetcher.fetch(endpoint, parse)` applies, in order:

1. the in-process memo: a fresh answer this process already parsed is returned without a disk read or a parse;
2. the disk cache: a fresh entry is parsed and returned;
3. the not-found memo: a 404 seen within `not_found_ttl` raises `NotFound` again without a call;
4. the lookup allowance: a caller that bounds its upstream calls (`LookupAllowance`) is refused past the bound;
5. single flight: concurrent identical questions share one upstream call;
6. with a shared store (Redis, `hex_mcp.redis_store`), inside that single flight: an answer another replica stored
   is taken (and kept in the disk cache); otherwise one replica takes the question's lock and calls upstream while
   the others wait for the answer it stores. Private answers never go there;
7. offline mode: nothing fresh and no network allowed → `OfflineMiss`, before any lock or call;
8. the call budget (`CallBudget`): the monthly quota is checked before each attempt and every attempt is counted
   (with a shared store: checked and counted in Redis in one step, so replicas together keep to one quota);
9. the upstream call, revalidating with the entry's ETag (304 keeps the entry, newly dated);
10. parse before caching, so a malformed answer is never stored;
11. stale-if-error: a retryable failure answers from an expired entry and says so in the freshness.

It knows nothing of tools or of a backend's name; `HexService` asks it questions through `Endpoint`s.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, Protocol, TypeVar, cast

import anyio

from hex_mcp.backends import Endpoint
from hex_mcp.cache import CacheEntry, ResponseCache, month_key
from hex_mcp.config import Settings
from hex_mcp.errors import BadResponse, HexError, LookupBoundReached, NotFound, OfflineMiss, QuotaExhausted
from hex_mcp.models import Freshness
from hex_mcp.redis_store import is_private
from hex_mcp.text import first_sentence
from hex_mcp.upstream import UpstreamResponse, utc_iso

if TYPE_CHECKING:
    from hex_mcp.redis_store import RedisStore

log = logging.getLogger(__name__)

T = TypeVar("T")
PARSED_MEMO_SIZE = 256  # parsed cache entries kept in memory; ecto's 185 releases parse to ~90 KB
PEER_POLL_SECONDS = 0.05  # how often a replica waiting on another's lock looks for the stored answer
NOT_FOUND_MEMO_SIZE = 10_000  # remembered 404s; a key is ~100 bytes, so the memo stays near 1 MB


class LookupAllowance:
    """How many upstream calls one tool call may still start; shared by the tasks it spawns."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.refused = 0

    def take(self) -> None:
        if self.used >= self.limit:
            self.refused += 1
            raise LookupBoundReached(self.limit)
        self.used += 1


# Set by a caller that bounds its upstream calls; tasks it starts inherit it (contextvars are copied on spawn).
lookup_allowance: contextvars.ContextVar[LookupAllowance | None] = contextvars.ContextVar(
    "lookup_allowance", default=None
)


@dataclass(frozen=True)
class Fetched(Generic[T]):
    value: T
    freshness: Freshness


class MemoKey(NamedTuple):
    """Where the process keeps its parse of one cache entry: the entry's key and the parser's name."""

    cache_key: str
    parser: str


@dataclass(frozen=True)
class _Memo:
    fetched_at: float
    etag: str | None
    value: Any


class _Flight(Generic[T]):
    def __init__(self) -> None:
        self.done = anyio.Event()
        self.result: T | None = None
        self.error: Exception | None = None
        self.finished = False


class SingleFlight(Generic[T]):
    """Concurrent calls with the same key share the first caller's work."""

    def __init__(self) -> None:
        self._flights: dict[str, _Flight[T]] = {}

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        while True:
            flight = self._flights.get(key)
            if flight is None:
                break
            await flight.done.wait()
            if flight.error is not None:
                raise flight.error
            if flight.finished:
                return cast(T, flight.result)
            # The leader was cancelled before finishing: take over.
        flight = _Flight[T]()
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


@dataclass(frozen=True)
class Ticket:
    """One upstream attempt's place in the budget: already counted in Redis (`shared`) or to count locally."""

    shared: bool


class CallBudget:
    """The monthly upstream call budget of the selected backend: counts attempts, refuses once spent.

    With a shared store the count lives in Redis: each attempt is checked and counted there in one step before it
    goes out (`reserve`), and given back if it never reached upstream (`settle`). While Redis is away the check
    uses the last shared count plus this replica's calls since, and those calls are added to Redis when it
    returns. The local counter always counts this replica's own calls.
    """

    def __init__(self, settings: Settings, cache: ResponseCache, shared: RedisStore | None = None) -> None:
        self.settings = settings
        self.cache = cache
        self.shared = shared
        self._last_shared: int | None = None  # the shared count last seen
        self._unsynced = 0  # calls made while Redis was away, not yet added to its counter
        if shared is not None:
            shared.when_back(self._sync)

    @property
    def quota(self) -> int | None:
        return self.settings.monthly_quota

    def count(self) -> None:
        self.cache.count_call(self.settings.backend)

    def used(self) -> int:
        local = self.cache.calls_this_month(self.settings.backend)
        if self._last_shared is None:
            return local
        return max(local, self._last_shared + self._unsynced)

    async def used_now(self) -> int:
        """The month's calls: the shared count when Redis answers, else the best local estimate."""
        if self.shared is not None:
            await self._sync()
            shared = await self.shared.calls(self.settings.backend)
            if isinstance(shared, int):
                self._last_shared = shared
                return shared + self._unsynced
        return self.used()

    def spent(self) -> bool:
        return self.quota is not None and self.used() >= self.quota

    def check(self) -> None:
        """Raise `QuotaExhausted` when no call is left this month (as far as this replica knows)."""
        if self.quota is None:
            return
        used = self.used()
        if used >= self.quota:
            raise self._exhausted(used)

    def _exhausted(self, used: int) -> QuotaExhausted:
        return QuotaExhausted(
            f"The monthly upstream call budget is spent (HEX_MCP_MONTHLY_QUOTA={self.quota}; {used} calls "
            f"in {month_key()} UTC). Answers come from the cache only until next month; raise "
            "HEX_MCP_MONTHLY_QUOTA to allow more calls."
        )

    async def reserve(self) -> Ticket:
        """Take one call from the budget before an attempt goes out, or raise `QuotaExhausted`."""
        shared = self.shared
        if shared is not None:
            backend = self.settings.backend
            await self._sync()
            if not self._unsynced:
                got = await shared.reserve_call(backend, self.quota)
                if isinstance(got, tuple):
                    allowed, self._last_shared = got
                    if not allowed:
                        raise self._exhausted(self._last_shared)
                    return Ticket(shared=True)
        # No shared store, Redis away, or calls made while it was away still to be added: the local check.
        self.check()
        return Ticket(shared=False)

    async def _sync(self) -> None:
        """Add the calls made while Redis was away to its counter (taken first: concurrent callers add once)."""
        pending, self._unsynced = self._unsynced, 0
        if pending and (
            self.shared is None or not await self.shared.add_calls(self.settings.backend, pending)
        ):
            self._unsynced += pending

    async def settle(self, ticket: Ticket, reached: bool) -> None:
        """Record how an attempt ended: `reached` upstream (it counts) or not (a refused connection: free)."""
        if reached:
            self.count()
            if self.shared is not None and not ticket.shared:
                self._unsynced += 1
        elif ticket.shared and self.shared is not None:
            await self.shared.add_calls(self.settings.backend, -1)


class Getter(Protocol):
    """What the pipeline needs of an HTTP client: `UpstreamClient` (the API) or `RepoClient` (the registry)."""

    async def get(
        self, path: str, params: Mapping[str, str] | None = None, etag: str | None = None
    ) -> UpstreamResponse: ...


class Fetcher:
    """Runs the pipeline above for one upstream, over one cache and one client.

    `budget` None: the calls are not metered (the registry's CDN has no quota; only the API's calls count).
    """

    def __init__(
        self,
        settings: Settings,
        cache: ResponseCache,
        upstream: Getter,
        budget: CallBudget | None,
        shared: RedisStore | None = None,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.upstream = upstream
        self.budget = budget
        self.shared = shared
        self._flight: SingleFlight[Fetched[Any]] = SingleFlight()
        self._parsed: dict[MemoKey, _Memo] = {}  # insertion order is the eviction order
        self._not_found: dict[str, float] = {}  # cache key -> when its 404 expires; insertion order evicts

    async def fetch(
        self, endpoint: Endpoint, parse: Callable[[Any], T], *, memo: str | None = None
    ) -> Fetched[T]:
        """The parsed answer for `endpoint`; `memo` names a parser that is not a bound method (see `_memo_key`)."""
        key = self.cache.key(endpoint)
        ttl = self.settings.ttls.for_endpoint(endpoint.kind)
        memo_key = self._memo_key(key, parse, memo)
        remembered = self._parsed.get(memo_key) if memo_key is not None else None
        if remembered is not None and self._usable(remembered.fetched_at, ttl):
            self.cache.record_lookup(hit=True)
            stamp = CacheEntry(None, remembered.fetched_at, remembered.etag)
            return Fetched(cast(T, remembered.value), self._freshness(stamp, from_cache=True))
        entry = self.cache.get(key)
        if entry is not None and self._usable(entry.fetched_at, ttl):
            try:
                value = self._parse_entry(memo_key, entry, parse)
            except BadResponse:
                entry = None  # an entry written by an older, different parser: refetch
            else:
                self.cache.record_lookup(hit=True)
                return Fetched(value, self._freshness(entry, from_cache=True))
        self._raise_if_known_missing(key)
        allowance = lookup_allowance.get()
        if allowance is not None:
            allowance.take()
        shared = self.shared if self.shared is not None and not is_private(endpoint) else None
        try:
            if shared is not None:
                # Inside the local single flight: one Redis read per question per replica, however many ask.
                result = await self._flight.run(
                    key,
                    lambda: self._via_shared(
                        endpoint, key, entry, ttl, parse, shared=shared, memo_key=memo_key
                    ),
                )
                self.cache.record_lookup(
                    hit=result.freshness.from_cache and result.freshness.stale_reason is None
                )
                return cast(Fetched[T], result)
            self.cache.record_lookup(hit=False)
            self._refuse_offline()
            result = await self._flight.run(
                key, lambda: self._refresh(endpoint, key, entry, ttl, parse, memo_key=memo_key)
            )
        except NotFound:
            self._remember_not_found(key)
            raise
        return cast(Fetched[T], result)

    def _refuse_offline(self) -> None:
        if self.settings.offline:
            raise OfflineMiss(
                "Offline mode (HEX_MCP_OFFLINE / --offline) is on and the cache holds no answer for this "
                "question. Run `hex-mcp cache warm NAME` while online, or import a snapshot with "
                "`hex-mcp cache import FILE`."
            )

    async def _via_shared(
        self,
        endpoint: Endpoint,
        key: str,
        entry: CacheEntry | None,
        ttl: int,
        parse: Callable[[Any], T],
        *,
        shared: RedisStore,
        memo_key: MemoKey | None,
    ) -> Fetched[Any]:
        """The answer another replica stored, else one upstream call for all replicas (`_refresh_shared`)."""
        found, newer = await self._take_peer(shared, key, entry, ttl, parse, memo_key=memo_key)
        if found is not None:
            return found
        entry = (
            newer or entry
        )  # expired, yet newer than ours: its ETag revalidates and it can answer if stale
        self._refuse_offline()
        return await self._refresh_shared(endpoint, key, entry, ttl, parse, shared=shared, memo_key=memo_key)

    async def _take_peer(
        self,
        shared: RedisStore,
        key: str,
        entry: CacheEntry | None,
        ttl: int,
        parse: Callable[[Any], T],
        *,
        memo_key: MemoKey | None,
    ) -> tuple[Fetched[T] | None, CacheEntry | None]:
        """What the shared store holds that is newer than `entry`: a usable answer (kept in the disk cache too),
        or else the newer entry itself, expired or unparsable; (None, None) when there is nothing newer."""
        peer = await shared.get_entry(key)
        if not isinstance(peer, CacheEntry) or (entry is not None and peer.fetched_at <= entry.fetched_at):
            return None, None
        if not self._usable(peer.fetched_at, ttl):
            return None, peer
        try:
            value = self._parse_entry(memo_key, peer, parse)
        except BadResponse:
            return None, None  # written by a different parser: refetch
        self.cache.set(key, peer, max(0, int(ttl - (time.time() - peer.fetched_at))))
        return Fetched(value, self._freshness(peer, from_cache=True)), peer

    async def _refresh_shared(
        self,
        endpoint: Endpoint,
        key: str,
        entry: CacheEntry | None,
        ttl: int,
        parse: Callable[[Any], T],
        *,
        shared: RedisStore,
        memo_key: MemoKey | None,
    ) -> Fetched[Any]:
        """Single flight across replicas: one holds the key's lock and calls upstream, the others take its answer.

        The lock expires after the upstream deadline (plus a margin), so a crashed holder delays the others by at
        most that; a holder that failed releases it and the next waiter calls upstream itself. If Redis goes
        away meanwhile, the waiter stops waiting and calls upstream.
        """
        lease = self.settings.timeout + 2.0
        token = await shared.lock(key, lease)
        deadline = time.monotonic() + lease
        while token is None and time.monotonic() < deadline:
            await anyio.sleep(PEER_POLL_SECONDS)
            found, _ = await self._take_peer(shared, key, entry, ttl, parse, memo_key=memo_key)
            if found is not None:
                return found
            token = await shared.lock(key, lease)
        try:
            if isinstance(token, str):
                # Another replica may have stored the answer and released the lock between our read and our
                # lock: look once more before calling upstream.
                found, _ = await self._take_peer(shared, key, entry, ttl, parse, memo_key=memo_key)
                if found is not None:
                    return found
            result = await self._refresh(endpoint, key, entry, ttl, parse, memo_key=memo_key)
        finally:
            if isinstance(token, str):
                with anyio.CancelScope(shield=True):
                    await shared.unlock(key, token)
        return result

    def _raise_if_known_missing(self, key: str) -> None:
        expires = self._not_found.get(key)
        if expires is None:
            return
        if time.monotonic() < expires:
            self.cache.record_lookup(hit=True)
            raise NotFound(
                f"{self.settings.backend_label} answered 404 for this within the last "
                f"{self.settings.not_found_ttl} s (remembered, not asked again)."
            )
        del self._not_found[key]

    def _remember_not_found(self, key: str) -> None:
        """Only a 404 is remembered: an outage, a 429 or a bad answer must be retried on the next call.

        Kept in memory only (not on disk, not shared): a name published a minute ago shows up after at most
        `not_found_ttl`, and `--no-cache` (or a TTL of 0) remembers nothing.
        """
        if not self.cache.enabled or self.settings.not_found_ttl <= 0:
            return
        self._not_found.pop(key, None)
        self._not_found[key] = time.monotonic() + self.settings.not_found_ttl
        if len(self._not_found) > NOT_FOUND_MEMO_SIZE:
            self._not_found.pop(next(iter(self._not_found)))

    def _usable(self, fetched_at: float, ttl: int) -> bool:
        """Fresh within its TTL, or any age in offline mode."""
        return self.settings.offline or time.time() - fetched_at < ttl

    def _memo_key(self, key: str, parse: Callable[[Any], T], memo: str | None) -> MemoKey | None:
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
        return MemoKey(key, name)

    def _parse_entry(self, memo_key: MemoKey | None, entry: CacheEntry, parse: Callable[[Any], T]) -> T:
        """Parse a cache entry, reusing this process's last parse of the very same entry."""
        if memo_key is None:
            return parse(entry.data)
        hit = self._parsed.get(memo_key)
        if hit is not None and hit.fetched_at == entry.fetched_at and hit.etag == entry.etag:
            return cast(T, hit.value)
        value = parse(entry.data)
        self._remember(memo_key, entry, value)
        return value

    def _remember(self, memo_key: MemoKey | None, entry: CacheEntry, value: object) -> None:
        if memo_key is None:
            return
        self._parsed.pop(memo_key, None)  # re-insert at the end
        self._parsed[memo_key] = _Memo(entry.fetched_at, entry.etag, value)
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
        memo_key: MemoKey | None,
    ) -> Fetched[Any]:
        try:
            if self.budget is not None:
                self.budget.check()
            response = await self.upstream.get(
                endpoint.path, endpoint.params_dict, etag=entry.etag if entry is not None else None
            )
            if response.not_modified:
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
                stale_value = _parse_stale(entry, parse)
                if stale_value is not None:
                    reason = first_sentence(str(exc))
                    log.warning("serving stale answer for %s: %s", endpoint.path, reason)
                    return Fetched(stale_value, self._freshness(entry, from_cache=True, stale_reason=reason))
            raise
        self.cache.set(key, fresh, ttl)
        if self.shared is not None and not is_private(endpoint):
            await self.shared.set_entry(key, fresh, ttl + self.settings.stale_for)
        self._remember(memo_key, fresh, value)
        return Fetched(value, self._freshness(fresh, from_cache=False))

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


def _parse_stale(entry: CacheEntry, parse: Callable[[Any], T]) -> T | None:
    try:
        return parse(entry.data)
    except BadResponse:
        return None
