"""Shared fixtures: a real fake upstream on 127.0.0.1, settings pointing at it, and in-memory MCP clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from fakehex.upstream import FakeUpstream
from hex_mcp.config import Secret, Settings, TTLs
from hex_mcp.logs import reset_repeats
from hex_mcp.server import create_server

OANOR_KEY = "test-oanor-key"
HEX_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _fresh_log_window() -> None:
    """The repeat filter that `configure_logging` installs is process-wide: without a reset, lines another test
    logged in this worker would be counted against this one's."""
    reset_repeats()


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeUpstream]:
    with FakeUpstream(oanor_key=OANOR_KEY) as fake:
        yield fake


@pytest.fixture
def fake(fake_server: FakeUpstream) -> Iterator[FakeUpstream]:
    """The session's fake upstream, with hits, faults and rate state reset for each test."""
    fake_server.reset()
    yield fake_server
    fake_server.reset()


@pytest.fixture
def make_settings(tmp_path: Path, fake: FakeUpstream) -> Callable[..., Settings]:
    """Settings for either backend against the fake upstream, with a fresh cache dir."""

    def make(backend: str = "hexpm", **overrides: Any) -> Settings:
        # The registry is the fake's, signed with its test key: no test ever reaches repo.hex.pm. Tests written
        # against the API's answers and call counts pin HEX_MCP_REGISTRY=off; tests/test_registry_int.py covers
        # the registry modes (auto, the product default, and only).
        base = Settings(
            registry="off",
            cache_dir=tmp_path / "cache",
            retries=0,
            timeout=5.0,
            ttls=TTLs(),
            repo_url=fake.repo_url,
            repo_public_key=fake.repo_public_key_pem,
        )
        if backend == "oanor":
            base = base.with_backend("oanor", fake.oanor_url)
            overrides.setdefault("oanor_api_key", Secret(OANOR_KEY))
            overrides.setdefault("max_rps", 0.0)  # no client-side pacing in tests unless a test asks for it
        else:
            base = base.with_backend("hexpm", fake.hexpm_url)
        fields = {**base.__dict__, **overrides}
        return Settings(**fields)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings("hexpm")


@pytest.fixture(params=["auto", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    """Both client eras: in-process 2026-07-28 dispatch and the JSON-RPC handshake Claude Desktop uses."""
    value: str = request.param
    return value


@pytest.fixture
async def client(settings: Settings, mode: str) -> AsyncIterator[Client]:
    async with Client(create_server(settings), mode=mode) as c:  # type: ignore[arg-type]
        yield c


@pytest.fixture(params=["hexpm", "oanor"])
def backend(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
async def backend_client(
    make_settings: Callable[..., Settings], backend: str, mode: str
) -> AsyncIterator[Client]:
    """An in-memory client for each backend in each client era."""
    async with Client(create_server(make_settings(backend)), mode=mode) as c:  # type: ignore[arg-type]
        yield c


REDIS_PASSWORD = "redispw-f00d-SECRET-0004"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    """A real redis-server on a free loopback port, no persistence, password required; skips when not installed."""
    from fakehex.redis_server import RedisServer, redis_binary

    pytest.importorskip("redis", reason="the redis client is not installed: pip install -e '.[dev]'")
    if redis_binary() is None:
        pytest.skip(
            "redis-server is not installed (Debian: apt-get install redis-server); Redis tests skipped"
        )
    with RedisServer(password=REDIS_PASSWORD) as server:
        yield server


@pytest.fixture
def redis_settings(
    redis_server: Any, make_settings: Callable[..., Settings], request: pytest.FixtureRequest
) -> Callable[..., Settings]:
    """Settings against the fake upstream and the session's Redis, under a prefix of this test's own."""
    prefix = f"t{abs(hash(request.node.nodeid)) % 10**10}:"

    def make(backend: str = "hexpm", **overrides: Any) -> Settings:
        overrides.setdefault("redis_url", Secret(redis_server.url))
        overrides.setdefault("redis_prefix", prefix)
        return make_settings(backend, **overrides)

    return make
