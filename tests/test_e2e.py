"""End to end: the installed `hex-mcp` command, launched as a subprocess, served to a real MCP client."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client

from fakehex.upstream import FakeUpstream
from tests.conftest import OANOR_KEY

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

TOOLS = ["hex_package", "hex_releases", "hex_release", "hex_search", "hex_meta"]


def hex_mcp_command() -> str:
    """The console script installed next to this interpreter (what a user's host launches)."""
    candidate = Path(sys.executable).with_name("hex-mcp")
    found = str(candidate) if candidate.exists() else shutil.which("hex-mcp")
    assert found, "hex-mcp is not installed: pip install -e '.[dev]'"
    return found


def server_env(fake: FakeUpstream, backend: str, cache_dir: Path) -> dict[str, str]:
    env = {
        "HEX_MCP_BACKEND": backend,
        "HEX_MCP_BASE_URL": fake.oanor_url if backend == "oanor" else fake.hexpm_url,
        "HEX_MCP_REGISTRY": "off",  # these pin the API path; no launched server may reach repo.hex.pm
        "HEX_MCP_REPO_URL": fake.repo_url,  # nor its tarballs (hex_diff's changelog)
        "HEX_MCP_CACHE_DIR": str(cache_dir),
        "HEX_MCP_MAX_RPS": "0",
        "PATH": os.environ.get("PATH", ""),
        # The code of this checkout, whichever checkout the installed command was installed from.
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    if backend == "oanor":
        env["OANOR_API_KEY"] = OANOR_KEY
    return env


async def test_stdio_serves_every_tool(fake: FakeUpstream, backend: str, tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=hex_mcp_command(), args=[], env=server_env(fake, backend, tmp_path)
    )
    async with Client(params, mode="legacy") as client:
        tools = await client.list_tools()
        assert {t.name for t in tools.tools} >= set(TOOLS)
        package = await client.call_tool("hex_package", {"name": "phoenix"})
        assert not package.is_error
        assert package.content[0].text.startswith("phoenix — ")  # type: ignore[union-attr]
        assert package.structured_content is not None
        assert package.structured_content["latest_stable_version"] == "1.8.7"
        release = await client.call_tool("hex_release", {"name": "phoenix", "version": "1.7.14"})
        assert "elixir: ~> 1.11" in release.content[0].text  # type: ignore[union-attr]
        missing = await client.call_tool("hex_package", {"name": "no_such_package_xyz"})
        assert missing.is_error
        assert "No package 'no_such_package_xyz' on Hex" in missing.content[0].text  # type: ignore[union-attr]
    source = "/hex-api/v1/package" if backend == "oanor" else "/api/packages/phoenix"
    assert fake.count(source) >= 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def http_server(
    fake: FakeUpstream, transport: str, tmp_path: Path, *extra: str, env: dict[str, str] | None = None
) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [hex_mcp_command(), "--transport", transport, "--port", str(port), *extra],
        env={**server_env(fake, "hexpm", tmp_path), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx2.get(f"{base}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.05)
        else:
            proc.kill()
            raise AssertionError(f"server did not start: {proc.communicate()[1].decode()}")
        yield base
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err.decode()
        assert b"Traceback" not in err


async def test_streamable_http(fake: FakeUpstream, tmp_path: Path) -> None:
    with http_server(fake, "streamable-http", tmp_path) as base:
        async with Client(f"{base}/mcp", mode="legacy") as client:
            result = await client.call_tool("hex_search", {"q": "json", "limit": 3})
            assert not result.is_error
            assert result.content[0].text.startswith('search "json"')  # type: ignore[union-attr]
        health = httpx2.get(f"{base}/healthz").json()
        assert health["ok"] is True and health["sessions"]["open"] == 0 and health["calls_in_flight"] == 0


@asynccontextmanager
async def sse_session(url: str, headers: dict[str, str] | None = None) -> AsyncIterator[ClientSession]:
    async with sse_client(url, headers=headers) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def test_sse(fake: FakeUpstream, tmp_path: Path) -> None:
    with http_server(fake, "sse", tmp_path) as base:
        for _ in range(2):  # the lifespan is entered per SSE connection; the service must survive both
            async with sse_session(f"{base}/sse") as session:
                result = await session.call_tool("hex_package", {"name": "jason"})
                assert not result.is_error
                assert result.content[0].text.startswith("jason — ")  # type: ignore[union-attr]
