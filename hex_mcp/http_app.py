"""The HTTP face: bearer-token auth, Host/Origin checks, and the ASGI app for the SSE and Streamable HTTP transports.

`create_server` asks `auth_options` for the SDK's auth arguments; the CLI asks `http_app` for the app to serve.
Nothing here knows the tools.
"""

from __future__ import annotations

import hmac
import re
from typing import Any
from urllib.parse import urlsplit

from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hex_mcp.config import Settings
from hex_mcp.http_guard import McpGuard, Saturation

# The hosts for which the SDK turns on its own loopback-only Host/Origin checks.
SDK_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class StaticTokenVerifier:
    """Accepts exactly one bearer token, compared in constant time."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def verify_token(self, token: str) -> AccessToken | None:
        if hmac.compare_digest(token.encode(), self._token):
            return AccessToken(token="bearer", client_id="hex-mcp-client", scopes=["read"])  # noqa: S106
        return None


def auth_options(settings: Settings) -> dict[str, Any]:
    """The SDK's token-verifier arguments when a bearer token guards an HTTP transport; none otherwise."""
    if settings.auth_token is None or settings.transport == "stdio":
        return {}
    return {
        "token_verifier": StaticTokenVerifier(settings.auth_token.reveal()),
        "auth": AuthSettings(
            issuer_url=AnyHttpUrl("https://hex-mcp.invalid"),
            resource_server_url=None,
            required_scopes=["read"],
        ),
    }


_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Host/Origin checks: loopback names (with or without a port), plus any --allowed-host names.

    A non-loopback bind without --allowed-host has no Host check: the bearer token guards it (see docs/security.md).
    """
    if not settings.allowed_hosts and settings.host not in SDK_LOOPBACK_HOSTS:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    hosts = [pattern for name in _LOOPBACK_NAMES for pattern in (name, f"{name}:*")]
    origins = [f"http://{host}" for host in hosts]
    for host in settings.allowed_hosts:
        hosts.append(host)
        bare = host.removesuffix(":*")
        origins.extend([f"https://{bare}", f"http://{bare}", f"https://{host}", f"http://{host}"])
    return TransportSecuritySettings(allowed_hosts=hosts, allowed_origins=sorted(set(origins)))


# host[:port], where a port is digits only: the SDK's "name:*" patterns would otherwise accept "127.0.0.1:evil".
_HOST_HEADER = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")


class StrictHostOrigin:
    """ASGI middleware that refuses malformed Host and Origin headers before the SDK's allowlist sees them.

    The SDK matches "name:*" patterns by prefix, so a Host of `127.0.0.1:evil` or an Origin of
    `http://127.0.0.1:1@evil.com` (userinfo, then another host) would pass. Here a port must be digits and an
    Origin is a bare scheme://host[:port]. `/healthz` stays open to probes that know no Host name.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == "/healthz":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host, origin = headers.get("host"), headers.get("origin")
        if host is not None and not _HOST_HEADER.fullmatch(host):
            await Response("Invalid Host header", status_code=421)(scope, receive, send)
            return
        if origin is not None and not _plain_origin(origin):
            await Response("Invalid Origin header", status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _plain_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or "@" in parts.netloc or parts.path or parts.query:
        return False
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return bool(parts.hostname)


def saturation_for(settings: Settings) -> Saturation:
    return Saturation(settings.max_connections, settings.max_sessions, settings.max_pending_sessions)


def http_app(mcp: MCPServer[Any], settings: Settings, saturation: Saturation | None = None) -> Starlette:
    """The ASGI app for the selected HTTP transport; `saturation` receives its counts for /healthz."""
    security = transport_security(settings)
    saturation = saturation if saturation is not None else saturation_for(settings)
    if settings.transport == "sse":
        app = mcp.sse_app(transport_security=security, host=settings.host)
    else:
        app = mcp.streamable_http_app(
            transport_security=security,
            host=settings.host,
            max_sessions=settings.max_sessions,
            stateless_http=settings.stateless_http,
        )
    # Innermost of the app's own middleware, after the SDK's authentication has looked at the token: the guard
    # reads request bodies only for callers that may use the server.
    app.user_middleware.append(
        Middleware(
            McpGuard,
            transport="sse" if settings.transport == "sse" else "streamable-http",
            requires_auth=settings.auth_token is not None,
            saturation=saturation,
            pending_session_ttl=settings.pending_session_ttl,
            discard_session=lambda sid: _discard_session(mcp, sid),
            open_sessions=lambda: _session_count(mcp),
            extra_report=getattr(mcp, "health_report", None),
        )
    )
    if security.enable_dns_rebinding_protection:
        app.add_middleware(StrictHostOrigin)
    app.add_middleware(CompleteResponses)
    return app


# The SDK's session manager has no public way to end a session or count them; these two reach into it, and
# tests/test_http_guard.py fails if they stop working.
async def _discard_session(mcp: MCPServer[Any], sid: str) -> None:
    manager = mcp.session_manager
    transport = manager._server_instances.get(sid)
    if transport is not None:
        await manager._discard_session(sid, transport)


def _session_count(mcp: MCPServer[Any]) -> int:
    return len(mcp.session_manager._server_instances)


class CompleteResponses:
    """ASGI middleware that ends every started HTTP response exactly once.

    At shutdown the SDK's event streams stop without their final body message, and its SSE endpoint then sends
    a second, empty response; uvicorn reports both as errors, the second with a traceback. This drops a
    repeated response start and closes a response the app left open, so SIGTERM ends the server quietly.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = finished = False

        async def send_once(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                if started:
                    return
                started = True
            elif message["type"] == "http.response.body":
                if finished:
                    return
                finished = not message.get("more_body", False)
            await send(message)

        await self.app(scope, receive, send_once)
        if started and not finished:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
