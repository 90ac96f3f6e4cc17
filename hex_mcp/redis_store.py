"""The shared store of many replicas, in Redis: answers, the monthly call counter, the rate window and locks.

Selected by HEX_MCP_REDIS_URL (redis://, rediss:// with certificate checks, unix://). Every replica keeps its own
disk cache as well; this store is the tier they share, so that N replicas spend one upstream call per distinct
answer and one monthly quota.

Keys, all under the deployment's prefix (HEX_MCP_REDIS_PREFIX, default `hexmcp:`) and the backend:

- `{prefix}{backend}:answer:{base}|{path}?{query}`: an answer as JSON text (value, fetch time, ETag), expiring
  `ttl + stale_for` after it was stored. Never pickle: whoever can write to Redis must not run code here.
- `{prefix}{backend}:calls:{YYYY-MM}`: the month's upstream calls, checked and incremented in one Lua script, so
  N replicas together never pass HEX_MCP_MONTHLY_QUOTA. No TTL: with `maxmemory-policy volatile-lru` it is never
  evicted.
- `{prefix}{backend}:lock:{...}`: single flight across replicas (SET NX PX; a crashed holder's lock expires).
- `{prefix}{backend}:rate` and `:rate:next`: hex.pm's last `x-ratelimit-*` state and the next free request slot
  under HEX_MCP_MAX_RPS, both expiring.

Redis trouble never fails a tool call: each operation has a deadline (`OP_TIMEOUT`, 200 ms, timed on a private
event loop so that the server's own lag is not taken for a slow Redis) and answers "unavailable" when it fails; the
caller then uses its local disk cache and counters. A refused or broken connection, an error reply (a full Redis)
or `TIMEOUTS_BEFORE_DEGRADED` timeouts in a row mark the store degraded for `RETRY_SECONDS`, during which every
operation answers "unavailable" at once. The first operation after that probes Redis again; success means shared
mode again. A warning is logged at most once a minute, one line, no traceback, and never the password.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import unquote, urlsplit

from hex_mcp.backends import Endpoint
from hex_mcp.cache import CacheEntry, decode_entry, encode_entry, month_key
from hex_mcp.config import ConfigError, Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

OP_TIMEOUT = 0.2  # seconds: the most one Redis operation may add to a tool call
RETRY_SECONDS = 2.0  # how long a degraded store skips Redis before probing it again
WARN_EVERY = 60.0  # at most one warning a minute while Redis is in trouble
SCAN_BATCH = 1000
POOL_SIZE = 16  # connections per replica; operations take well under a millisecond each on a healthy Redis
# A refused or broken connection means Redis is down at once; a timeout may be one slow moment of a busy host, so
# only this many in a row mark the store degraded (each timed-out operation still falls back on its own).
TIMEOUTS_BEFORE_DEGRADED = 3
# Path prefixes of hex.pm's organisation (private) APIs: their answers depend on the key and are never shared.
PRIVATE_PATHS = ("/repos/", "/orgs/", "/users/me", "/keys")
_ENTRY_PREFIX = "r|"

T = TypeVar("T")


class _Unavailable:
    """What an operation returns when Redis cannot answer within its deadline (or is known to be down)."""

    def __repr__(self) -> str:
        return "UNAVAILABLE"

    def __bool__(self) -> bool:
        return False


UNAVAILABLE: Final = _Unavailable()

# Check and increment in one step: refused (0, used) when the increment would pass the quota, else (1, new count).
_RESERVE = """
local n = redis.call('INCRBY', KEYS[1], ARGV[2])
local q = tonumber(ARGV[1])
if q >= 0 and n > q then
  redis.call('DECRBY', KEYS[1], ARGV[2])
  return {0, n - tonumber(ARGV[2])}
end
return {1, n}
"""
# The next free request slot under a requests-per-second cap, by the server's clock: microseconds to wait.
_RATE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, nxt)
redis.call('SET', KEYS[1], string.format('%.0f', slot + tonumber(ARGV[1])), 'PX', 60000)
return math.floor(slot - now)
"""
# Release a lock only if it is still ours (it may have expired and been taken by another replica).
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class StoreInfo:
    """What hex_meta, /healthz and `cache stats` show of the shared store: never a credential."""

    where: str  # "host:port" or the socket path
    connected: bool
    keys: int | None

    def text(self) -> str:
        keys = f"{self.keys} keys" if self.keys is not None else "keys unknown"
        state = "connected" if self.connected else "degraded (serving from the local cache)"
        return f"redis {self.where} · {state} · {keys}"


@dataclass(frozen=True)
class ServerFacts:
    latency_ms: float
    version: str
    policy: str  # maxmemory-policy
    maxmemory: int  # bytes; 0: no limit


def describe_url(url: str) -> str:
    """`host:port` (or the socket path) of a Redis URL, without user, password or database."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path or "?"
    try:
        port = parts.port or 6379
    except ValueError:
        port = 6379
    host = parts.hostname or "localhost"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_private(endpoint: Endpoint) -> bool:
    """An answer that depends on who asks (an organisation's packages, the key's own user) is never shared."""
    return endpoint.path.startswith(PRIVATE_PATHS)


def require_client(settings: Settings) -> None:
    """Raise ConfigError when HEX_MCP_REDIS_URL is set but the optional Redis client is not installed."""
    if settings.redis_url is None:
        return
    try:
        import redis  # noqa: F401, PLC0415  (probe for the optional extra)
    except ImportError:
        raise ConfigError(
            "HEX_MCP_REDIS_URL is set but the Redis client is not installed: pip install 'mcp-server-hexpm[redis]'"
        ) from None


def open_store(settings: Settings, *, op_timeout: float | None = None) -> RedisStore | None:
    """The shared store HEX_MCP_REDIS_URL names, or None without one; a missing client library is a setup error."""
    require_client(settings)
    return RedisStore(settings, op_timeout=op_timeout) if settings.redis_url is not None else None


class _IoLoop:
    """A private asyncio loop on a daemon thread, where every Redis operation runs and is timed.

    A server's own loop can lag far behind under a burst of tool calls (hundreds of requests parsed and answered
    at once on a busy host); a deadline timed there would expire with Redis's answer already waiting in the
    socket, and the replica would stop sharing exactly when sharing matters most. On this quiet loop, the 200 ms
    measure only Redis and the network. The caller awaits the result without blocking its own loop.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        return self._loop is not None

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="hex-mcp-redis", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._running())
        return await asyncio.wrap_future(future)  # cancelling the caller cancels the operation too

    def stop(self) -> None:
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=2)
        if not thread.is_alive():
            loop.close()


class RedisStore:
    """Async operations on the shared state, each bounded by `OP_TIMEOUT`; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        op_timeout: float | None = None,
        retry_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from redis.asyncio import (  # noqa: PLC0415  (an optional extra: imported only when configured)
            BlockingConnectionPool,
            Redis,
        )
        from redis.asyncio.retry import Retry  # noqa: PLC0415
        from redis.backoff import NoBackoff  # noqa: PLC0415

        assert settings.redis_url is not None
        url = settings.redis_url.reveal()
        self.settings = settings
        self.prefix = settings.redis_prefix
        self.where = describe_url(url)
        self.op_timeout = op_timeout = OP_TIMEOUT if op_timeout is None else op_timeout
        self.retry_seconds = RETRY_SECONDS if retry_seconds is None else retry_seconds
        self._clock = clock
        given = (urlsplit(url).password, settings.redis_password and settings.redis_password.reveal())
        # Both spellings of a password from the URL: as written (percent-encoded) and as sent.
        self._secrets = tuple({form for secret in given if secret for form in (secret, unquote(secret))})
        extra: dict[str, Any] = {}
        if settings.redis_password is not None and not urlsplit(url).password:
            extra["password"] = settings.redis_password.reveal()
        # A bounded pool: a burst of concurrent calls reuses a few connections instead of opening (and
        # authenticating) one each, which under load would by itself overrun the deadline. One immediate retry,
        # on a fresh connection: after a Redis restart the pooled connection is dead and the retry reconnects.
        # The deadline in `_run` bounds waiting for a connection and both attempts together.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=POOL_SIZE,
            timeout=op_timeout,
            socket_timeout=op_timeout,
            socket_connect_timeout=op_timeout,
            retry=Retry(NoBackoff(), 1),
            decode_responses=True,
            health_check_interval=0,
            **extra,
        )
        self._redis: Redis = Redis.from_pool(pool)  # owns the pool: aclose disconnects every connection
        self.connected = True
        self._down_until = 0.0
        self._last_warning: float | None = None
        self.failures = 0
        self.last_error: str | None = None
        self._timeouts = 0  # in a row
        self._io = _IoLoop()
        self._when_back: list[Callable[[], Awaitable[None]]] = []

    def __repr__(self) -> str:
        return f"RedisStore({self.where}, prefix={self.prefix!r}, connected={self.connected})"

    async def aclose(self) -> None:
        if self._io.started:
            try:
                await self._io.run(asyncio.wait_for(self._redis.aclose(), self.op_timeout))
            except Exception as exc:  # closing a broken connection has nothing left to save
                log.debug("closing redis: %s", type(exc).__name__)
        self._io.stop()

    # -- the guard around every operation ----------------------------------------------------------------

    async def _run(self, what: str, op: Callable[[Redis], Awaitable[T]]) -> T | _Unavailable:
        if not self.connected and self._clock() < self._down_until:
            return UNAVAILABLE
        try:
            result = await self._io.run(asyncio.wait_for(op(self._redis), self.op_timeout))
        except Exception as exc:  # any trouble at all means "use the local cache", never a failed call
            self._trouble(what, exc)
            return UNAVAILABLE
        self._timeouts = 0
        if not self.connected:
            self.connected = True
            log.warning("redis %s answers again; shared cache, quota and rate window are back on", self.where)
            for hook in self._when_back:
                await hook()
        return result

    def when_back(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` each time Redis answers again after trouble (the budget adds the calls made meanwhile)."""
        self._when_back.append(hook)

    def _trouble(self, what: str, exc: BaseException) -> None:
        self.failures += 1
        if _is_timeout(exc):
            self._timeouts += 1
            if self.connected and self._timeouts < TIMEOUTS_BEFORE_DEGRADED:
                log.debug(
                    "redis %s: %s took over %g s; this operation falls back",
                    self.where,
                    what,
                    self.op_timeout,
                )
                return
        self.connected = False
        self.last_error = (
            f"{type(exc).__name__}: {self.scrub(str(exc))[:200]}"
            if str(exc)
            else (f"no answer within {self.op_timeout * 1000:.0f} ms")
        )
        now = self._clock()
        self._down_until = now + self.retry_seconds
        if self._last_warning is None or now - self._last_warning >= WARN_EVERY:
            self._last_warning = now
            log.warning(
                "redis %s unavailable during %s (%s: %s); serving from the local cache and counters, retrying "
                "every %g s",
                self.where,
                what,
                "timeout" if _is_timeout(exc) else type(exc).__name__,
                self.scrub(str(exc))[:200] or f"no answer within {self.op_timeout * 1000:.0f} ms",
                self.retry_seconds,
            )

    def scrub(self, text: str) -> str:
        """`text` with the password replaced, for anything Redis or the client library says."""
        for secret in self._secrets:
            text = text.replace(secret, "********")
        return text

    # -- keys ------------------------------------------------------------------------------------------

    def answer_key(self, cache_key: str) -> str:
        """The shared key of a local cache key `r|backend|base|path?query`."""
        backend, _, rest = cache_key.removeprefix(_ENTRY_PREFIX).partition("|")
        return f"{self.prefix}{backend}:answer:{rest}"

    def lock_key(self, cache_key: str) -> str:
        backend, _, rest = cache_key.removeprefix(_ENTRY_PREFIX).partition("|")
        return f"{self.prefix}{backend}:lock:{rest}"

    def counter_key(self, backend: str, ts: float | None = None) -> str:
        return f"{self.prefix}{backend}:calls:{month_key(ts)}"

    def cache_key_of(self, answer_key: str) -> str | None:
        """The local cache key an answer key came from, or None for a key that is not an answer."""
        head, sep, rest = answer_key.removeprefix(self.prefix).partition(":answer:")
        if not sep or ":" in head:
            return None
        return f"{_ENTRY_PREFIX}{head}|{rest}"

    # -- answers ---------------------------------------------------------------------------------------

    async def get_entry(self, cache_key: str) -> CacheEntry | _Unavailable | None:
        raw = await self._run("a read", lambda r: r.get(self.answer_key(cache_key)))
        if isinstance(raw, _Unavailable):
            return raw
        entry = decode_entry(raw) if raw is not None else None
        if raw is not None and entry is None:
            log.debug("ignored a shared entry that is not a JSON cache entry: %s", cache_key)
        return entry

    async def set_entry(self, cache_key: str, entry: CacheEntry, expire: float | None) -> bool:
        try:
            text = encode_entry(entry)
        except (TypeError, ValueError, RecursionError):
            return False
        px = max(1, int(expire * 1000)) if expire is not None else None
        done = await self._run("a write", lambda r: r.set(self.answer_key(cache_key), text, px=px))
        return done is True

    # -- the monthly counter ---------------------------------------------------------------------------

    async def reserve_call(self, backend: str, quota: int | None) -> tuple[bool, int] | _Unavailable:
        """Count one call unless it would pass `quota`: (True, new count) or (False, count so far)."""
        key = self.counter_key(backend)
        raw = await self._run(
            "the quota check", lambda r: r.eval(_RESERVE, 1, key, -1 if quota is None else quota, 1)
        )
        if isinstance(raw, _Unavailable):
            return raw
        return bool(int(raw[0])), int(raw[1])

    async def add_calls(self, backend: str, count: int) -> bool:
        """Add `count` calls (made while Redis was away, or negative to give back one that never went out)."""
        key = self.counter_key(backend)
        done = await self._run("the call counter", lambda r: r.incrby(key, count))
        return not isinstance(done, _Unavailable)

    async def calls(self, backend: str) -> int | _Unavailable:
        raw = await self._run("the call counter", lambda r: r.get(self.counter_key(backend)))
        if isinstance(raw, _Unavailable):
            return raw
        try:
            return int(raw) if raw is not None else 0
        except ValueError:
            return 0

    # -- single flight ---------------------------------------------------------------------------------

    async def lock(self, cache_key: str, ttl_seconds: float) -> str | _Unavailable | None:
        """A token when this replica now holds the key's lock, None when another does."""
        token = secrets.token_hex(8)
        got = await self._run(
            "a lock",
            lambda r: r.set(self.lock_key(cache_key), token, nx=True, px=max(1, int(ttl_seconds * 1000))),
        )
        if isinstance(got, _Unavailable):
            return got
        return token if got else None

    async def unlock(self, cache_key: str, token: str) -> None:
        await self._run("an unlock", lambda r: r.eval(_UNLOCK, 1, self.lock_key(cache_key), token))

    # -- the rate window -------------------------------------------------------------------------------

    async def rate_slot(self, backend: str, rps: float) -> float | _Unavailable:
        """Seconds this replica waits for its turn so that all replicas together keep to `rps`."""
        interval = int(1_000_000 / rps)
        raw = await self._run(
            "the rate window", lambda r: r.eval(_RATE_SLOT, 1, f"{self.prefix}{backend}:rate:next", interval)
        )
        if isinstance(raw, _Unavailable):
            return raw
        return max(0, int(raw)) / 1_000_000

    async def rate_state(self, backend: str) -> dict[str, float] | _Unavailable:
        raw = await self._run("the rate window", lambda r: r.hgetall(f"{self.prefix}{backend}:rate"))
        if isinstance(raw, _Unavailable):
            return raw
        state: dict[str, float] = {}
        for name, value in (raw or {}).items():
            try:
                state[str(name)] = float(value)
            except (TypeError, ValueError):
                continue
        return state

    async def put_rate_state(self, backend: str, state: dict[str, float], until: float) -> None:
        """Publish what upstream said of its window; it expires when the window does."""
        key = f"{self.prefix}{backend}:rate"
        ttl_ms = max(1000, int((until - time.time()) * 1000) + 1000)

        async def put(r: Redis) -> None:
            async with r.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.hset(key, mapping={k: repr(v) for k, v in state.items()})
                pipe.pexpire(key, ttl_ms)
                await pipe.execute()

        await self._run("the rate window", put)

    # -- operations ------------------------------------------------------------------------------------

    async def info(self) -> StoreInfo:
        keys = await self.count_keys()
        return StoreInfo(self.where, self.connected, None if isinstance(keys, _Unavailable) else keys)

    async def _scan(self, what: str, match: str) -> list[str] | _Unavailable:
        """Every key matching `match`, one bounded SCAN batch per operation."""
        found: list[str] = []
        cursor = 0
        while True:
            page = await self._run(what, functools.partial(_scan_page, cursor=cursor, match=match))
            if isinstance(page, _Unavailable):
                return page
            cursor, keys = int(page[0]), page[1]
            found.extend(str(k) for k in keys)
            if cursor == 0:
                return found

    async def count_keys(self) -> int | _Unavailable:
        """Keys under this deployment's prefix."""
        keys = await self._scan("a key count", f"{self.prefix}*")
        return keys if isinstance(keys, _Unavailable) else len(keys)

    async def answer_keys(self) -> list[str] | _Unavailable:
        keys = await self._scan("a key listing", f"{self.prefix}*:answer:*")
        if isinstance(keys, _Unavailable):
            return keys
        return [k for k in keys if self.cache_key_of(k) is not None]

    async def clear_answers(self) -> int | _Unavailable:
        """Delete every shared answer of this prefix; counters, locks and the rate window stay."""
        keys = await self.answer_keys()
        if isinstance(keys, _Unavailable):
            return keys
        removed = 0
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]
            done = await self._run("a clear", functools.partial(_delete, keys=batch))
            if isinstance(done, _Unavailable):
                return done
            removed += int(done)
        return removed

    async def server(self) -> ServerFacts | _Unavailable:
        """Round-trip time of a PING, the server's version and eviction policy (for doctor)."""
        started = time.perf_counter()
        pong = await self._run("a ping", lambda r: r.ping())
        if isinstance(pong, _Unavailable):
            return pong
        latency = (time.perf_counter() - started) * 1000
        info = await self._run("a version check", lambda r: r.info())
        facts = info if isinstance(info, dict) else {}
        return ServerFacts(
            latency_ms=latency,
            version=str(facts.get("redis_version", "?")),
            policy=str(facts.get("maxmemory_policy", "?")),
            maxmemory=int(facts.get("maxmemory", 0) or 0),
        )


async def _scan_page(r: Redis, *, cursor: int, match: str) -> tuple[int, list[str]]:
    next_cursor, keys = await r.scan(cursor=cursor, match=match, count=SCAN_BATCH)
    return int(next_cursor), [k.decode() if isinstance(k, bytes) else k for k in keys]


async def _delete(r: Redis, *, keys: list[str]) -> int:
    return int(await r.delete(*keys))


def _is_timeout(exc: BaseException) -> bool:
    from redis.exceptions import TimeoutError as RedisTimeout  # noqa: PLC0415  (optional extra)

    return isinstance(exc, TimeoutError | RedisTimeout)
