"""JSON-RPC and session guards in front of the SDK's SSE and Streamable HTTP transports, and `/healthz`.

What the SDK's transports leave open, closed here before a message reaches them:

- **Ids.** A request id must be a string or an integer. The SDK treats an object, float, boolean or null id as a
  notification (no answer ever comes); here it gets -32600.
- **One answer per request.** The SDK keys requests in flight by `coerce_request_id(id)` (so `1` and `"1"` are one
  key) and, in Streamable HTTP, its response streams by `str(id)`; a second request with a colliding id overwrites
  the first, which then never gets an answer while the second may get the first's (docs/upstream/). A request
  whose id collides with one still in flight in the same session is refused with -32600 instead.
- **Media type.** `Content-Type: APPLICATION/JSON; charset=utf-8` is JSON (media types are case-insensitive);
  the SDK's Streamable HTTP check compares case-sensitively, so the header is passed on lower-cased.
- **Pending sessions.** A session whose client never finishes the handshake (`notifications/initialized`) is
  dropped after `pending_session_ttl` seconds, and at most `max_pending_sessions` are kept: past that the oldest
  is dropped to admit the new one. Bare `initialize` floods then cannot fill the session table.
- **SSE sessions** (one open GET stream each) are capped at `max_sessions`, as the SDK caps Streamable HTTP ones.

The guard reads a POST body once, bounded by the SDK's own body limit, and hands the same bytes on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hex_mcp import __version__

log = logging.getLogger(__name__)

SESSION_HEADER = "mcp-session-id"
INVALID_REQUEST = -32600


@dataclass
class Saturation:
    """Live counts against their caps, shared by the server (connections) and the guard (sessions)."""

    max_connections: int
    max_sessions: int
    max_pending_sessions: int
    connections: int = 0
    refused_connections: int = 0
    sessions: Callable[[], int] = field(default=lambda: 0)
    pending_sessions: Callable[[], int] = field(default=lambda: 0)
    calls_in_flight: Callable[[], int] = field(default=lambda: 0)

    def report(self) -> dict[str, Any]:
        sessions, pending = self.sessions(), self.pending_sessions()
        full = []
        if self.connections >= self.max_connections:
            full.append("connections")
        if sessions >= self.max_sessions:
            full.append("sessions")
        return {
            "ok": not full,
            "name": "hex-mcp",
            "version": __version__,
            "saturated": full,
            "calls_in_flight": self.calls_in_flight(),
            "connections": {
                "open": self.connections,
                "max": self.max_connections,
                "refused": self.refused_connections,
            },
            "sessions": {
                "open": sessions,
                "max": self.max_sessions,
                "pending": pending,
                "max_pending": self.max_pending_sessions,
            },
        }


def rpc_error(message: str, status: int = 400) -> Response:
    """A JSON-RPC error without an id: echoing a refused id could itself be matched to another request."""
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": message}}
    return JSONResponse(body, status_code=status)


def id_keys(request_id: object) -> set[tuple[str, object]]:
    """Every key under which the SDK may file `request_id`: the verbatim string and the int-coerced value."""
    keys: set[tuple[str, object]] = {("str", str(request_id))}
    if isinstance(request_id, str):
        with contextlib.suppress(ValueError):
            keys.add(("int", int(request_id)))
    else:
        keys.add(("int", request_id))
    return keys


def valid_id(request_id: object) -> bool:
    return isinstance(request_id, str) or (isinstance(request_id, int) and not isinstance(request_id, bool))


@dataclass
class _Pending:
    opened_at: float
    close: Callable[[], Awaitable[None]]


class McpGuard:
    """ASGI middleware for the MCP endpoint of one transport (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        transport: Literal["sse", "streamable-http"],
        saturation: Saturation,
        pending_session_ttl: float,
        discard_session: Callable[[str], Awaitable[None]],
        open_sessions: Callable[[], int],
        requires_auth: bool = False,
        max_body: int = DEFAULT_MAX_REQUEST_BODY_SIZE,
        extra_report: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    ) -> None:
        self.app = app
        self.extra_report = extra_report  # more for /healthz: the shared store's state
        self.requires_auth = requires_auth
        self.transport = transport
        self.saturation = saturation
        self.pending_ttl = pending_session_ttl
        self._discard_session = discard_session
        self._open_sessions = open_sessions
        self.max_body = max_body
        self._pending: dict[str, _Pending] = {}  # insertion order is age order
        self._in_flight: dict[str, set[tuple[str, object]]] = {}
        self._sse_streams = 0
        saturation.sessions = self.open_sessions
        saturation.pending_sessions = lambda: len(self._pending)
        saturation.calls_in_flight = self.calls_in_flight

    def calls_in_flight(self) -> int:
        """Requests still waiting for their answer (each id is filed under two keys; one is enough to count)."""
        return sum(1 for keys in self._in_flight.values() for kind, _ in keys if kind == "str")

    def open_sessions(self) -> int:
        return self._sse_streams if self.transport == "sse" else self._open_sessions()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope.get("path", ""), scope.get("method", "")
        if path == "/healthz" and method == "GET":
            report = self.saturation.report()
            if self.extra_report is not None:
                report.update(await self.extra_report())
            await JSONResponse(report, status_code=200 if report["ok"] else 503)(scope, receive, send)
        elif self.transport == "sse" and path == "/sse" and method == "GET":
            await self._sse_stream(scope, receive, send)
        elif self.requires_auth and not getattr(scope.get("user"), "is_authenticated", False):
            await self.app(scope, receive, send)  # refused with 401 further in, unread
        elif method == "POST" and (
            (self.transport == "sse" and path.startswith("/messages"))
            or (self.transport == "streamable-http" and path == "/mcp")
        ):
            await self._post(scope, receive, send)
        elif method == "DELETE" and path == "/mcp":
            sid = Headers(scope=scope).get(SESSION_HEADER)
            if sid is not None:
                self._pending.pop(sid, None)
            await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    # -- sessions that never finish their handshake ----------------------------------------------------------

    async def _make_room(self, keep: int | None = None) -> None:
        """Drop expired pending sessions, then the oldest while more than `keep` (default: cap - 1) are pending."""
        keep = self.saturation.max_pending_sessions - 1 if keep is None else keep
        now = time.monotonic()
        while self._pending:
            sid, oldest = next(iter(self._pending.items()))
            if now - oldest.opened_at < self.pending_ttl and len(self._pending) <= keep:
                break
            del self._pending[sid]
            self._in_flight.pop(sid, None)
            log.info(
                "dropping session %s: no initialized notification after %.1f s",
                sid[:8],
                now - oldest.opened_at,
            )
            await oldest.close()

    async def _sse_stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._make_room()
        if self._sse_streams >= self.saturation.max_sessions and self._pending:
            await self._make_room(
                keep=len(self._pending) - 1
            )  # a session that has not finished its handshake
        elif self._sse_streams >= self.saturation.max_sessions:
            await rpc_error("Too many open sessions; try again later", 503)(scope, receive, send)
            return
        self._sse_streams += 1
        sid: str | None = None
        # Dropping a stream reads to the app as its client leaving: the SDK then closes the session's streams
        # itself, which cancelling its handler would leave open.
        dropped = anyio.Event()

        async def close() -> None:
            dropped.set()

        async def receive_or_dropped() -> Message:
            message: Message = {"type": "http.disconnect"}
            if dropped.is_set():
                return message
            async with anyio.create_task_group() as race:

                async def client() -> None:
                    nonlocal message
                    message = await receive()
                    race.cancel_scope.cancel()

                async def guard() -> None:
                    await dropped.wait()
                    race.cancel_scope.cancel()

                race.start_soon(client)
                race.start_soon(guard)
            return message

        async def watch(message: Message) -> None:
            nonlocal sid
            if message["type"] == "http.response.body":
                for event in _sse_data(message.get("body", b"")):
                    if sid is None and "session_id=" in event:
                        sid = event.rsplit("session_id=", 1)[1].strip()
                        self._pending[sid] = _Pending(time.monotonic(), close)
                        # Streams opened together all made room before any was registered: trim to the cap.
                        await self._make_room(keep=self.saturation.max_pending_sessions)
                    elif sid is not None:
                        self._answered(sid, event)
            await send(message)

        try:
            await self.app(scope, receive_or_dropped, watch)
        finally:
            self._sse_streams -= 1
            if sid is not None:
                self._pending.pop(sid, None)
                self._in_flight.pop(sid, None)

    def _answered(self, sid: str, event: str) -> None:
        try:
            message = json.loads(event)
        except ValueError:
            return
        if isinstance(message, dict) and ("result" in message or "error" in message) and "id" in message:
            self._in_flight.get(sid, set()).difference_update(id_keys(message["id"]))

    # -- JSON-RPC POSTs --------------------------------------------------------------------------------------

    async def _post(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope = _lower_media_type(scope)
        body, complete = await _read_body(receive, self.max_body)
        replay = _replay(body, complete, receive)
        messages = _messages(body) if complete else []
        for message in messages:
            if "method" in message and "id" in message and not valid_id(message["id"]):
                kind = "null" if message["id"] is None else type(message["id"]).__name__
                await rpc_error(f"Invalid Request: id must be a string or an integer, not {kind}")(
                    scope, replay, send
                )
                return
        sid = _query_session(scope) if self.transport == "sse" else Headers(scope=scope).get(SESSION_HEADER)
        if sid is None:
            await self._open_session(scope, replay, send)
            return
        keys: set[tuple[str, object]] = set()
        flying = self._in_flight.setdefault(sid, set())
        for message in messages:
            method = message.get("method")
            if method == "notifications/initialized":
                self._pending.pop(sid, None)
            elif method == "notifications/cancelled" and self.transport == "sse":
                params = message.get("params")
                if isinstance(params, dict) and valid_id(params.get("requestId")):
                    flying.difference_update(id_keys(params["requestId"]))
            if method is not None and "id" in message:
                mine = id_keys(message["id"])
                if mine & (flying | keys):
                    await rpc_error(
                        f"Invalid Request: id {json.dumps(message['id'])} is already used by a request in flight "
                        "in this session; use a new id for each request"
                    )(scope, replay, send)
                    return
                keys |= mine
        flying |= keys
        if self.transport == "sse":
            # The answer comes on the session's event stream, which removes the id when it passes.
            await self.app(scope, replay, send)
            return

        async def send_and_release(message: Message) -> None:
            # Free the ids before the answer's last byte goes out: the client may reuse one the moment it has it.
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                flying.difference_update(keys)
            await send(message)

        try:
            await self.app(scope, replay, send_and_release)
        finally:
            flying.difference_update(keys)

    async def _open_session(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A Streamable HTTP request without a session id: if it opens one, the session is pending until
        its client sends `notifications/initialized`."""
        if self.transport != "streamable-http":
            await self.app(scope, receive, send)
            return
        await self._make_room()
        opened: str | None = None

        async def watch(message: Message) -> None:
            nonlocal opened
            if message["type"] == "http.response.start" and message.get("status", 500) < 400:
                opened = Headers(raw=message.get("headers", [])).get(SESSION_HEADER)
                if opened is not None:
                    sid = opened
                    self._pending[sid] = _Pending(time.monotonic(), lambda: self._discard_session(sid))
                    await self._make_room(keep=self.saturation.max_pending_sessions)  # concurrent openings
            await send(message)

        await self.app(scope, receive, watch)


def _lower_media_type(scope: Scope) -> Scope:
    headers = []
    changed = False
    for name, value in scope.get("headers", []):
        new = value
        if name.lower() == b"content-type":
            media, sep, params = value.partition(b";")
            new = media.strip().lower() + sep + params
            changed = changed or new != value
        headers.append((name, new))
    return {**scope, "headers": headers} if changed else scope


async def _read_body(receive: Receive, limit: int) -> tuple[list[Message], bool]:
    """The request's body messages, up to `limit` bytes; complete is False when more remains (or it is too big)."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, False
        size += len(message.get("body", b""))
        if size > limit:
            return messages, False
        if not message.get("more_body", False):
            return messages, True


def _replay(messages: list[Message], complete: bool, receive: Receive) -> Receive:
    """A receive that hands on the body as one message when it was read whole, then the real receive."""
    if complete:
        body = b"".join(m.get("body", b"") for m in messages)
        queue: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    else:
        queue = list(messages)

    async def replay() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replay


def _messages(body_messages: list[Message]) -> list[dict[str, Any]]:
    body = b"".join(m.get("body", b"") for m in body_messages)
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return []  # the SDK answers a parse error itself
    items = payload if isinstance(payload, list) else [payload]
    return [item for item in items if isinstance(item, dict)]


def _query_session(scope: Scope) -> str | None:
    query: str = scope.get("query_string", b"").decode("latin-1")
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "session_id" and value:
            return value
    return None


def _sse_data(chunk: bytes) -> list[str]:
    """The `data:` payloads of the server-sent events in one body chunk."""
    text = chunk.decode("utf-8", "replace")
    return [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
