"""HTTP transport security, for Streamable HTTP and SSE: Host/Origin checks, the bearer token, /healthz,
and the refusal to serve a non-loopback address without a token.

The ASGI app is served in-process by uvicorn on a free loopback port and spoken to with `httpx2.AsyncClient`
(a sync client would block the event loop uvicorn runs on). The CLI cases spawn the installed `hex-mcp`.
"""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from fakehex.upstream import FakeUpstream
from hex_mcp.config import Secret, Settings
from hex_mcp.http_app import http_app
from hex_mcp.server import create_server
from tests.helpers import INITIALIZE, MCP_HEADERS
from tests.test_e2e import free_port, hex_mcp_command, server_env

pytestmark = pytest.mark.anyio

TOKEN = "tok-5f1c0e-test-bearer"
TRANSPORTS = ["streamable-http", "sse"]


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[str]:
    """The app `hex-mcp --transport ...` would serve, on 127.0.0.1:<free port>; yields the base URL."""
    port = free_port()
    app = http_app(create_server(settings), settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        for _ in range(1000):
            if server.started:
                break
            await anyio.sleep(0.01)
        else:
            raise AssertionError("uvicorn did not start")
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True


async def probe(base: str, transport: str, headers: dict[str, str] | None = None) -> int:
    """The status of the transport's entry point (an initialize POST, or the SSE stream's opening)."""
    async with httpx2.AsyncClient(timeout=5) as http:
        if transport == "streamable-http":
            sent = {**MCP_HEADERS, **(headers or {})}
            return (await http.post(f"{base}/mcp", json=INITIALIZE, headers=sent)).status_code
        async with http.stream("GET", f"{base}/sse", headers=headers or {}) as stream:
            return stream.status_code  # leaving the block closes the event stream


@pytest.fixture
def http_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    def make(transport: str, **overrides: Any) -> Settings:
        return dataclasses.replace(make_settings("hexpm"), transport=transport, **overrides)

    return make


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_loopback_default_checks_host_and_origin(
    transport: str, http_settings: Callable[..., Settings]
) -> None:
    async with serve(http_settings(transport)) as base:
        assert await probe(base, transport) == 200
        assert await probe(base, transport, {"host": "evil.example"}) == 421
        assert await probe(base, transport, {"host": "evil.example:8000"}) == 421
        assert await probe(base, transport, {"origin": "http://evil.example"}) == 403
        assert await probe(base, transport, {"origin": "https://127.0.0.1.evil.example"}) == 403
        assert await probe(base, transport, {"origin": "http://localhost:5173"}) == 200  # a local web UI
        assert await probe(base, transport, {"host": "localhost"}) == 200  # any port, or none
        assert await probe(base, transport, {"host": "127.0.0.1:evil"}) == 421
        assert await probe(base, transport, {"host": "127.0.0.1:80@evil.example"}) == 421
        assert await probe(base, transport, {"origin": "http://127.0.0.1:1@evil.com"}) == 403
        assert await probe(base, transport, {"origin": "http://localhost:x"}) == 403


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_bearer_token(
    transport: str, http_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    async with serve(http_settings(transport, auth_token=Secret(TOKEN))) as base:
        assert await probe(base, transport) == 401
        assert await probe(base, transport, {"authorization": "Bearer wrong"}) == 401
        assert await probe(base, transport, {"authorization": f"Bearer {TOKEN}x"}) == 401
        assert await probe(base, transport, {"authorization": TOKEN}) == 401  # not a bearer credential
        assert await probe(base, transport, {"authorization": f"Bearer {TOKEN}"}) == 200
        # Host/Origin checks still apply to a caller holding the token.
        authorized = {"authorization": f"Bearer {TOKEN}"}
        assert await probe(base, transport, {**authorized, "host": "evil.example"}) == 421
        assert await probe(base, transport, {**authorized, "origin": "http://evil.example"}) == 403

        async with httpx2.AsyncClient(headers=authorized) as http:
            if transport == "streamable-http":
                transport_client = streamable_http_client(f"{base}/mcp", http_client=http)
                async with Client(transport_client, mode="legacy") as c:
                    result = await c.call_tool("hex_package", {"name": "jason"})
            else:
                async with (
                    sse_client(f"{base}/sse", headers=authorized) as (read, write),
                    ClientSession(read, write) as session,
                ):
                    await session.initialize()
                    result = await session.call_tool("hex_package", {"name": "jason"})
        assert not result.is_error
        assert result.content[0].text.startswith("jason — ")  # type: ignore[union-attr]
        assert fake.count("/api/packages/jason") == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("bind", ["127.0.0.1", "0.0.0.0"])
async def test_allowed_hosts_behind_a_proxy(
    transport: str, bind: str, http_settings: Callable[..., Settings]
) -> None:
    settings = http_settings(
        transport,
        host=bind,
        allowed_hosts=("mcp.example.com", "internal.example:*"),
        auth_token=Secret(TOKEN),
    )
    authorized = {"authorization": f"Bearer {TOKEN}"}
    async with serve(settings) as base:
        accepted = [
            {"host": "mcp.example.com"},
            {"host": "mcp.example.com", "origin": "https://mcp.example.com"},
            {"host": "internal.example:8443"},
            {},  # 127.0.0.1:<port>, as a local health probe or the operator would call it
        ]
        for headers in accepted:
            assert await probe(base, transport, {**authorized, **headers}) == 200, headers
        assert await probe(base, transport, {**authorized, "host": "evil.example"}) == 421
        assert await probe(base, transport, {**authorized, "host": "mcp.example.com:8080"}) == 421
        foreign_origin = {"host": "mcp.example.com", "origin": "https://evil.example"}
        assert await probe(base, transport, {**authorized, **foreign_origin}) == 403


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_healthz_needs_no_auth_and_tells_nothing(
    transport: str, http_settings: Callable[..., Settings], tmp_path: Any
) -> None:
    settings = http_settings(transport, auth_token=Secret(TOKEN), hex_api_key=Secret("hexkey-7d2e-secret"))
    async with serve(settings) as base, httpx2.AsyncClient() as http:
        response = await http.get(f"{base}/healthz")
    assert response.status_code == 200
    body = response.json()
    # Saturation counts, and nothing about the configuration.
    keys = {"ok", "name", "version", "saturated", "calls_in_flight", "connections", "sessions"}
    assert set(body) == keys and body["ok"] is True
    for secret in (TOKEN, "hexkey-7d2e-secret", str(settings.cache_dir), settings.base_url):
        assert secret not in response.text


# -- the CLI's refusal to expose an unauthenticated server ------------------------------------------------


def cli_env(fake: FakeUpstream, tmp_path: Any, **extra: str) -> dict[str, str]:
    return {**server_env(fake, "hexpm", tmp_path), **extra}


@pytest.mark.slow
def test_non_loopback_without_token_refuses_to_start(fake: FakeUpstream, tmp_path: Any) -> None:
    for transport in TRANSPORTS:
        proc = subprocess.run(
            [hex_mcp_command(), "--transport", transport, "--host", "0.0.0.0", "--port", str(free_port())],
            env=cli_env(fake, tmp_path),
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        err = proc.stderr.decode()
        assert "refusing to serve on 0.0.0.0 without authentication" in err
        assert "HEX_MCP_AUTH_TOKEN" in err and "--insecure-no-auth" in err
        assert "Traceback" not in err


def wait_for_health(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1].decode()
        try:
            if httpx2.get(f"{base}/healthz", timeout=0.5).status_code == 200:
                return
        except httpx2.TransportError:
            time.sleep(0.05)
    raise AssertionError("server did not start")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("extra_args", "extra_env"),
    [(["--insecure-no-auth"], {}), ([], {"HEX_MCP_AUTH_TOKEN": TOKEN})],
    ids=["insecure-no-auth", "token"],
)
def test_non_loopback_starts_with_a_token_or_explicit_opt_out(
    fake: FakeUpstream, tmp_path: Any, extra_args: list[str], extra_env: dict[str, str]
) -> None:
    port = free_port()
    args = [hex_mcp_command(), "--transport", "streamable-http", "--host", "0.0.0.0", "--port", str(port)]
    proc = subprocess.Popen(
        [*args, *extra_args],
        env=cli_env(fake, tmp_path, **extra_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_health(base, proc)
        mcp_status = httpx2.post(f"{base}/mcp", json=INITIALIZE, headers=MCP_HEADERS, timeout=5).status_code
        assert mcp_status == (401 if extra_env else 200)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err


@pytest.mark.slow
def test_loopback_needs_no_token(fake: FakeUpstream, tmp_path: Any) -> None:
    """The default bind, 127.0.0.1, may serve without a token: only local processes reach it."""
    port = free_port()
    proc = subprocess.Popen(
        [hex_mcp_command(), "--transport", "streamable-http", "--port", str(port)],
        env={k: v for k, v in cli_env(fake, tmp_path).items() if k != "HEX_MCP_HOST"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_health(f"http://127.0.0.1:{port}", proc)
        with socket.socket() as s:  # nothing listens on the machine's other addresses
            s.settimeout(1)
            other = _non_loopback_address()
            if other is not None:
                assert s.connect_ex((other, port)) != 0
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def _non_loopback_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for a UDP connect
            address: str = s.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address
