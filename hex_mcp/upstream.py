"""The HTTP seam: one GET against a backend, with retries, a deadline, a body cap and rate governance.

This is the only module that sees `httpx2` errors and reads HTTP status codes; it turns every failure into a
`hex_mcp.errors.HexError` whose message says what happened and what to do next, and hands back only usable
answers (`UpstreamResponse`: data, or "not modified"). What differs between upstreams it asks the backend.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import httpx2

from hex_mcp import __version__
from hex_mcp.config import Settings
from hex_mcp.deadline import deadline
from hex_mcp.errors import (
    AuthError,
    BadResponse,
    HexError,
    NotFound,
    RateLimited,
    UpstreamUnavailable,
)
from hex_mcp.registry import PACKAGE_MAX_BYTES
from hex_mcp.tarball import TarLimits

if TYPE_CHECKING:
    from hex_mcp.redis_store import RedisStore

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({502, 503, 504})
# A closed hex.pm rate window this close to reopening is waited out instead of failing the call.
MAX_RATE_WAIT_SECONDS = 5.0
MAX_SHARED_BLOCK_SECONDS = 3600.0  # the furthest a rate window read from the shared store may be closed


@dataclass(frozen=True)
class UpstreamResponse:
    """A usable answer: 200 with parsed JSON, or 304 (data None) when the caller sent an ETag."""

    status: int
    data: Any
    etag: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass
class RateState:
    """What upstream last told us about its rate window, plus our own pacing."""

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None  # UNIX seconds
    blocked_until: float | None = None  # from Retry-After or a 429
    seen_at: float | None = None
    last_request_at: float = 0.0
    lock: anyio.Lock = field(default_factory=anyio.Lock)


class Meter(Protocol):
    """The monthly call budget as the client sees it (`hex_mcp.fetch.CallBudget`): a place taken before each
    attempt, settled once it is known whether the attempt reached the upstream."""

    async def reserve(self) -> Any: ...

    async def settle(self, ticket: Any, reached: bool) -> None: ...


def utc_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clock_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S UTC")


class UpstreamClient:
    """GETs JSON from the selected backend; owns one `httpx2.AsyncClient`."""

    def __init__(
        self,
        settings: Settings,
        *,
        http_transport: httpx2.AsyncBaseTransport | None = None,
        on_attempt: Callable[[], None] | None = None,
        meter: Meter | None = None,
        shared: RedisStore | None = None,
        sleep: Callable[[float], Any] = anyio.sleep,
    ) -> None:
        self.settings = settings
        self._meter = meter
        self._shared = shared
        self._published: tuple[float | None, float | None] = (None, None)  # rate state last shared
        self.backend = settings.upstream
        self.label = self.backend.label
        self.url_setting = "HEX_MCP_BASE_URL"  # what to check when the host cannot be reached
        self.max_body = settings.max_body_bytes
        self.rate = RateState()
        self._on_attempt = on_attempt
        self._sleep = sleep
        self._http = self._client(http_transport)

    def _client(self, transport: httpx2.AsyncBaseTransport | None) -> httpx2.AsyncClient:
        headers = {"User-Agent": f"hex-mcp/{__version__}", "Accept": "application/json"}
        key = self.settings.api_key
        if key is not None:
            headers[self.backend.auth_header] = key.reveal()
        return _http_client(self.settings, self.settings.base_url, headers, transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(
        self, path: str, params: Mapping[str, str] | None = None, etag: str | None = None
    ) -> UpstreamResponse:
        """GET `path` under the base URL, retrying transient failures within the settings' deadline."""
        # Never past the question's own deadline (time queued before this call counts), so this timeout, not the
        # question's, fires first and a stale answer can still stand in.
        budget = min(self.settings.timeout, deadline() - anyio.current_time())
        try:
            with anyio.fail_after(max(0.0, budget)):
                return await self._get_with_retries(path, dict(params or {}), etag)
        except TimeoutError:
            raise UpstreamUnavailable(
                f"{self.label} did not answer within {self.settings.timeout:g} s (timeout). "
                "Try again in a minute; raise HEX_MCP_TIMEOUT if your network is slow."
            ) from None

    async def _get_with_retries(
        self, path: str, params: dict[str, str], etag: str | None
    ) -> UpstreamResponse:
        attempt = 0
        while True:
            try:
                return await self._attempt(path, params, etag)
            except UpstreamUnavailable as exc:
                if attempt >= self.settings.retries or isinstance(exc, _ServerBug):
                    raise
            attempt += 1
            # Exponential backoff with full jitter: 0.25 s, 0.5 s, ... capped at 2 s.
            await self._sleep(random.uniform(0, min(2.0, 0.25 * 2 ** (attempt - 1))))  # noqa: S311 - jitter, not crypto

    async def _attempt(self, path: str, params: dict[str, str], etag: str | None) -> UpstreamResponse:
        await self._pace()
        ticket = await self._meter.reserve() if self._meter is not None else None
        headers = {"If-None-Match": etag} if etag else {}
        counted = False  # an attempt is counted once, whichever way it ends
        try:
            async with self._http.stream("GET", path, params=params, headers=headers) as response:
                counted = True
                await self._count_attempt(ticket)
                self._observe_rate(response.headers)
                try:
                    body = await self._read_capped(response)
                except httpx2.TransportError as exc:
                    if isinstance(exc, httpx2.TimeoutException):
                        raise
                    # The headers came, then the body broke off: a truncated answer or a reset connection.
                    raise UpstreamUnavailable(
                        f"{self.label} broke off its answer ({type(exc).__name__}). Try again shortly."
                    ) from None
        except httpx2.TimeoutException as exc:
            # The request went out, unless the connection never opened; the upstream may have metered it.
            if not counted:
                await self._count_attempt(ticket, reached=not isinstance(exc, httpx2.ConnectTimeout))
            raise UpstreamUnavailable(
                f"{self.label} timed out ({type(exc).__name__}). Try again shortly."
            ) from None
        except httpx2.TransportError as exc:
            if not counted:
                await self._count_attempt(ticket, reached=not isinstance(exc, httpx2.ConnectError))
            raise UpstreamUnavailable(
                f"{self.label} is unreachable ({type(exc).__name__}). Check the network or {self.url_setting}, "
                "then try again."
            ) from None
        try:
            return self._interpret(response, body)
        finally:
            await self._share_rate()

    async def _count_attempt(self, ticket: Any, *, reached: bool = True) -> None:
        """Count a request against the monthly budget once it reached the upstream; a refused connection,
        a failed DNS lookup or a connect timeout never did, so it costs nothing. A ticket is settled once."""
        if self._meter is not None and ticket is not None:
            await self._meter.settle(ticket, reached)
        elif reached and self._on_attempt is not None:
            self._on_attempt()

    async def _read_capped(self, response: httpx2.Response) -> bytes:
        cap = self.max_body
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise BadResponse(
                f"{self.label} sent a {int(declared):,}-byte answer, above the {cap:,}-byte cap; it was not "
                "read. Try again later."
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise BadResponse(
                    f"{self.label} sent an answer larger than the {cap:,}-byte cap; it was dropped. "
                    "Try again later."
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _interpret(self, response: httpx2.Response, body: bytes) -> UpstreamResponse:
        status = response.status_code
        if status == 304:
            return UpstreamResponse(304, None, response.headers.get("etag"))
        payload = _parse_json(body)
        if 200 <= status < 300:
            if payload is _INVALID:
                raise BadResponse(f"{self.label} sent malformed JSON. Try again later.")
            return UpstreamResponse(status, self.backend.unwrap(payload), response.headers.get("etag"))
        raise self._status_error(status, response.headers, _message_of(payload))

    def _status_error(self, status: int, headers: httpx2.Headers, message: str | None) -> HexError:
        said = f" ({message})" if message else ""
        label = self.label
        if 300 <= status < 400:
            return BadResponse(
                f"{label} answered with a redirect (HTTP {status}), which is not followed. Check "
                f"HEX_MCP_BASE_URL: it must be the API root itself (default {self.backend.default_base_url})."
            )
        if status == 404:
            return NotFound(f"{label} has no such resource (HTTP 404){said}.")
        if status == 400:
            return BadResponse(
                f"{label} rejected the request (HTTP 400){said}. Check the arguments against the tool's "
                "description; if they are right, try again later."
            )
        if status == 401:
            return self.backend.auth_error(said)
        if status == 402:
            return self.backend.plan_error(said)
        if status == 403:
            return AuthError(
                f"{label} refused access (HTTP 403){said}. Your address or key may be blocked: check the key, "
                "or try again later from another network."
            )
        if status == 429:
            return self._rate_limited(headers, said)
        if status in RETRY_STATUSES:
            return UpstreamUnavailable(
                f"{label} failed on its side (HTTP {status}){said}. Try again shortly."
            )
        if status >= 500:
            return _ServerBug(f"{label} failed on its side (HTTP {status}){said}. Try again later.")
        return BadResponse(f"{label} answered HTTP {status}{said}.")

    def _rate_limited(self, headers: httpx2.Headers, said: str) -> RateLimited:
        now = time.time()
        retry_at = _retry_after(headers, now) or self.rate.reset
        if retry_at is not None and retry_at <= now:
            retry_at = None
        if retry_at is not None:
            self.rate.blocked_until = retry_at
            when = f"retry after {clock_time(retry_at)} (in {max(1, round(retry_at - now))} s)"
        else:
            when = "retry in a minute"
        return self.backend.rate_limited(said, when, retry_at)

    def _observe_rate(self, headers: httpx2.Headers) -> None:
        limit, remaining, reset = (headers.get(f"x-ratelimit-{k}") for k in ("limit", "remaining", "reset"))
        if limit is None and remaining is None and reset is None:
            return
        self.rate.limit = _int_or_none(limit)
        self.rate.remaining = _int_or_none(remaining)
        reset_int = _int_or_none(reset)
        self.rate.reset = float(reset_int) if reset_int is not None else None
        self.rate.seen_at = time.time()

    async def _pace(self) -> None:
        """Hold the call while a rate window is closed; keep to HEX_MCP_MAX_RPS (across replicas with Redis)."""
        await self._adopt_shared_rate()
        now = time.time()
        blocked = self.rate.blocked_until
        if self.rate.remaining == 0 and self.rate.reset is not None and self.rate.reset > now:
            blocked = max(blocked or 0.0, self.rate.reset)
        if blocked is not None and blocked > now:
            wait = blocked - now
            if wait > MAX_RATE_WAIT_SECONDS:
                raise RateLimited(
                    f"{self.label} rate window is closed until {clock_time(blocked)} (in {round(wait)} s); "
                    "no call was made. Try again after that.",
                    blocked,
                )
            await self._sleep(wait)
        rps = self.settings.effective_max_rps
        if rps is None:
            return
        if self._shared is not None:
            turn = await self._shared.rate_slot(self.settings.backend, rps)
            if isinstance(turn, float):
                if turn > 0:
                    await self._sleep(turn)
                self.rate.last_request_at = time.monotonic()
                return
        async with self.rate.lock:
            gap = 1.0 / rps - (time.monotonic() - self.rate.last_request_at)
            if gap > 0:
                await self._sleep(gap)
            self.rate.last_request_at = time.monotonic()

    async def _adopt_shared_rate(self) -> None:
        """Take what another replica last heard of the rate window, when it is newer than what we heard."""
        if self._shared is None:
            return
        state = await self._shared.rate_state(self.settings.backend)
        if not isinstance(state, dict) or not state:
            return
        rate = self.rate
        # Whoever can write to Redis must not be able to silence every replica for long: a window that closes
        # further ahead than this is not taken from it (hex.pm's windows last a minute).
        horizon = time.time() + MAX_SHARED_BLOCK_SECONDS
        if any(state.get(name, 0.0) > horizon for name in ("reset", "blocked_until", "seen_at")):
            return
        seen = state.get("seen_at")
        if seen is not None and seen > (rate.seen_at or 0.0):
            rate.seen_at = seen
            rate.limit = int(state["limit"]) if "limit" in state else None
            rate.remaining = int(state["remaining"]) if "remaining" in state else None
            rate.reset = state.get("reset")
        blocked = state.get("blocked_until")
        if blocked is not None and blocked > (rate.blocked_until or 0.0):
            rate.blocked_until = blocked
        self._published = (rate.seen_at, rate.blocked_until)

    async def _share_rate(self) -> None:
        """Publish what this answer said of the rate window, so every replica paces by it."""
        rate = self.rate
        if self._shared is None or (rate.seen_at, rate.blocked_until) == self._published:
            return
        self._published = (rate.seen_at, rate.blocked_until)
        state = {
            name: float(value)
            for name, value in (
                ("limit", rate.limit),
                ("remaining", rate.remaining),
                ("reset", rate.reset),
                ("seen_at", rate.seen_at),
                ("blocked_until", rate.blocked_until),
            )
            if value is not None
        }
        until = max(rate.reset or 0.0, rate.blocked_until or 0.0, time.time() + 60)
        await self._shared.put_rate_state(self.settings.backend, state, until)


class RepoClient(UpstreamClient):
    """GETs signed registry files from the Hex repository (HEX_MCP_REPO_URL) as bytes.

    Same deadline, retries and no-redirect rule as the API client, but its own connection pool, the registry's
    body cap, no rate governor (repo.hex.pm is a CDN, not the rate-limited API), no call budget and never an API
    key: the files are signed, so no credential is needed and none is offered to a mirror. The body travels on as
    base64 text, so the disk cache (JSON only) keeps the signed file exactly as received and every read of it is
    verified again. It counts what it fetched and what a 304 revalidated, for hex_meta.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        http_transport: httpx2.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Any] = anyio.sleep,
    ) -> None:
        super().__init__(settings, http_transport=http_transport, sleep=sleep)
        self.label = f"The Hex repository ({settings.repo_url})"
        self.url_setting = "HEX_MCP_REPO_URL"
        self.max_body = PACKAGE_MAX_BYTES
        self.fetched = 0
        self.revalidated = 0

    def _client(self, transport: httpx2.AsyncBaseTransport | None) -> httpx2.AsyncClient:
        # No key header, ever: registry files are public and signed, and a mirror must not see a credential.
        headers = {"User-Agent": f"hex-mcp/{__version__}", "Accept": "application/octet-stream"}
        return _http_client(self.settings, self.settings.repo_url, headers, transport)

    async def _pace(self) -> None:
        """No pacing: the repository is a CDN with no rate window to keep to."""

    def _observe_rate(self, headers: httpx2.Headers) -> None:
        """The repository sends no rate headers worth reading; the API's rate state stays its own."""

    def _interpret(self, response: httpx2.Response, body: bytes) -> UpstreamResponse:
        status = response.status_code
        if status == 304:
            self.revalidated += 1
            return UpstreamResponse(304, None, response.headers.get("etag"))
        if 200 <= status < 300:
            self.fetched += 1
            return UpstreamResponse(
                status, base64.b64encode(body).decode("ascii"), response.headers.get("etag")
            )
        if status in (403, 404):  # the CDN answers 403 for a file that does not exist, as Hex itself reads it
            raise NotFound(f"{self.label} has no such file (HTTP {status}).")
        if 300 <= status < 400:
            raise BadResponse(
                f"{self.label} answered with a redirect (HTTP {status}), which is not followed. Check "
                "HEX_MCP_REPO_URL: it must be the repository root itself (default https://repo.hex.pm)."
            )
        raise self._status_error(status, response.headers, None)


class TarballClient(RepoClient):
    """GETs release tarballs (`/tarballs/NAME-VERSION.tar`) from the same repository, as raw bytes.

    RepoClient's repository URL, mirror, deadline, retries and no-key rule, with the tarball's own body cap (hex.pm
    accepts none larger). The bytes are never cached or written anywhere: the caller verifies their SHA-256 and
    keeps only what it read from them.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        http_transport: httpx2.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Any] = anyio.sleep,
    ) -> None:
        super().__init__(settings, http_transport=http_transport, sleep=sleep)
        self.max_body = TarLimits().max_tarball_bytes

    def _interpret(self, response: httpx2.Response, body: bytes) -> UpstreamResponse:
        status = response.status_code
        if 200 <= status < 300:
            self.fetched += 1
            return UpstreamResponse(status, body, None)
        if status in (403, 404):
            raise NotFound(f"{self.label} has no such tarball (HTTP {status}).")
        if 300 <= status < 400:
            raise BadResponse(
                f"{self.label} answered with a redirect (HTTP {status}), which is not followed. Check "
                "HEX_MCP_REPO_URL: it must be the repository root itself (default https://repo.hex.pm)."
            )
        raise self._status_error(status, response.headers, None)


def _http_client(
    settings: Settings, base_url: str, headers: dict[str, str], transport: httpx2.AsyncBaseTransport | None
) -> httpx2.AsyncClient:
    per_attempt = max(1.0, settings.timeout)
    return httpx2.AsyncClient(
        base_url=base_url,
        headers=headers,
        transport=transport,
        timeout=httpx2.Timeout(per_attempt, connect=min(5.0, per_attempt)),
        follow_redirects=False,  # a redirect could point anywhere; never follow it with our key
        limits=httpx2.Limits(max_connections=20, max_keepalive_connections=10),
    )


class _ServerBug(UpstreamUnavailable):
    """A 5xx other than 502/503/504: an upstream fault that an immediate retry would only repeat."""


_INVALID = object()


def _parse_json(body: bytes) -> Any:
    if not body:
        return _INVALID
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _INVALID


def _message_of(payload: Any) -> str | None:
    if isinstance(payload, dict):
        message = payload.get("message")
        if isinstance(message, str) and message.strip():
            return message.strip()[:200]
    return None


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _retry_after(headers: httpx2.Headers, now: float) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return now + int(value)
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
