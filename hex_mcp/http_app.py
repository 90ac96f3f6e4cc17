"""The HTTP face: bearer-token auth, Host/Origin checks, and the ASGI app for the SSE and Streamable HTTP transports.

`create_server` asks `auth_options` for the SDK's auth arguments; the CLI asks `http_app` for the app to serve.
Nothing here knows the tools.
"""

from __future__ import annotations

import hmac
from typing import Any

from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hex_mcp.config import Settings

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


def transport_security(settings: Settings) -> TransportSecuritySettings | None:
    """Host/Origin checks: the SDK's loopback defaults, plus any --allowed-host names."""
    if not settings.allowed_hosts:
        if settings.host in SDK_LOOPBACK_HOSTS:
            return None  # the SDK turns on loopback-only checks by itself
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    for host in settings.allowed_hosts:
        hosts.append(host)
        bare = host.removesuffix(":*")
        origins.extend([f"https://{bare}", f"http://{bare}", f"https://{host}", f"http://{host}"])
    return TransportSecuritySettings(allowed_hosts=hosts, allowed_origins=sorted(set(origins)))


def http_app(mcp: MCPServer[Any], settings: Settings) -> Starlette:
    """The ASGI app for the selected HTTP transport."""
    security = transport_security(settings)
    if settings.transport == "sse":
        app = mcp.sse_app(transport_security=security, host=settings.host)
    else:
        app = mcp.streamable_http_app(transport_security=security, host=settings.host)
    app.add_middleware(CompleteResponses)
    return app


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
