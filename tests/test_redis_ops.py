"""Operating the Redis store: `cache stats|clear|warm|export|import`, `doctor`, /healthz and hex_meta, and the
password, which never shows in any of them, nor in logs, errors or reprs."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from fakehex.redis_server import RedisServer
from fakehex.upstream import FakeUpstream
from hex_mcp import redis_store, render
from hex_mcp.cli import main
from hex_mcp.config import Secret, Settings
from hex_mcp.doctor import check_redis
from hex_mcp.redis_store import RedisStore
from hex_mcp.service import HexService
from tests.conftest import REDIS_PASSWORD
from tests.helpers import INITIALIZE, MCP_HEADERS
from tests.test_e2e import free_port, hex_mcp_command
from tests.test_http_security import wait_for_health

pytestmark = pytest.mark.anyio

WRONG_PASSWORD = "wrongpw-0dd-SECRET-0005"


def assert_clean(where: str, text: str) -> None:
    for secret in (REDIS_PASSWORD, WRONG_PASSWORD):
        assert secret not in text, f"{where} shows the Redis password"


@pytest.fixture
def cli_env(
    redis_server: RedisServer, fake: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., list[str]]:
    """Run `hex-mcp ARGS` in-process against the fake upstream and the session's Redis; returns stdout lines."""
    monkeypatch.setattr(
        redis_store, "OP_TIMEOUT", 2.0
    )  # exact counts below: not a timing test on a busy host
    monkeypatch.setenv("HEX_MCP_BACKEND", "hexpm")
    monkeypatch.setenv("HEX_MCP_BASE_URL", fake.hexpm_url)
    monkeypatch.setenv("HEX_MCP_REGISTRY", "off")
    monkeypatch.setenv("HEX_MCP_REDIS_URL", redis_server.url)
    monkeypatch.setenv("HEX_MCP_REDIS_PREFIX", f"cli{os.getpid()}{tmp_path.name[-12:]}:")

    def run(*args: str, capsys: pytest.CaptureFixture[str], expect: int = 0) -> list[str]:
        code = main(["--cache-dir", str(tmp_path / "cache"), *args])
        out, err = capsys.readouterr()
        assert_clean("command output", out + err)
        assert code == expect, out + err
        return out.splitlines()

    return run


def test_cache_commands_work_on_both_tiers(
    cli_env: Callable[..., list[str]],
    capsys: pytest.CaptureFixture[str],
    redis_server: RedisServer,
    fake: FakeUpstream,
    tmp_path: Path,
) -> None:
    where = f"127.0.0.1:{redis_server.port}"
    assert cli_env("cache", "warm", "jason", capsys=capsys) == [
        f"warmed 1 of 1 packages into {tmp_path / 'cache'} and redis {where}"
    ]
    stats = cli_env("cache", "stats", capsys=capsys)  # hex.pm serves package and releases in one answer
    prefix = os.environ["HEX_MCP_REDIS_PREFIX"]
    assert stats[3:] == [
        f"shared store: redis {where} · connected · 4 keys under {prefix!r}",
        "shared answers: 2",
        "upstream calls this month (hexpm): 2 shared, 2 by this host · quota: unlimited",
    ]
    snapshot = tmp_path / "snap.json"
    assert cli_env("cache", "export", str(snapshot), capsys=capsys) == [
        f"exported 2 entries to {snapshot} (2 from {tmp_path / 'cache'}, 2 from redis)"
    ]
    assert cli_env("cache", "clear", capsys=capsys) == [
        f"removed 2 entries from {tmp_path / 'cache'} and 2 from redis {where}"
    ]
    assert cli_env("cache", "stats", capsys=capsys)[4] == "shared answers: 0"
    assert cli_env("cache", "import", str(snapshot), capsys=capsys) == [
        f"imported 2 entries into {tmp_path / 'cache'} and 2 into redis {where}"
    ]
    assert cli_env("cache", "stats", capsys=capsys)[4] == "shared answers: 2"
    assert fake.count() == 2  # warm only: everything after came from the tiers


def test_cache_stats_with_redis_down_says_so_and_fails(
    cli_env: Callable[..., list[str]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("HEX_MCP_REDIS_URL", f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0")
    lines = cli_env("cache", "stats", capsys=capsys, expect=1)
    assert lines[3].startswith(
        f"shared store: redis 127.0.0.1:{port} · degraded (serving from the local cache)"
    )
    assert cli_env("cache", "clear", capsys=capsys, expect=1) == []


async def test_doctor_reports_version_latency_and_keys(
    redis_settings: Callable[..., Settings], redis_server: RedisServer
) -> None:
    check = await check_redis(redis_settings())
    assert check.status == "ok"
    assert check.detail.startswith(f"127.0.0.1:{redis_server.port} · Redis ")
    assert " · PING " in check.detail and check.detail.endswith(
        "keys under " + repr(redis_settings().redis_prefix) + " · 0 hexpm calls this month"
    )
    assert_clean("doctor", check.render())


async def test_doctor_fails_on_a_wrong_password_without_showing_it(
    redis_settings: Callable[..., Settings], redis_server: RedisServer
) -> None:
    url = f"redis://:{WRONG_PASSWORD}@127.0.0.1:{redis_server.port}/0"
    check = await check_redis(redis_settings(redis_url=Secret(url)))
    assert check.status == "fail"
    assert check.detail.startswith(f"127.0.0.1:{redis_server.port} did not answer (")
    assert_clean("doctor", check.render())


async def test_doctor_warns_when_the_counters_could_be_evicted(
    redis_settings: Callable[..., Settings],
) -> None:
    with RedisServer() as server:
        import redis as sync_redis

        sync_redis.Redis.from_url(server.url).config_set("maxmemory-policy", "allkeys-lru")
        check = await check_redis(redis_settings(redis_url=Secret(server.url)))
    assert check.status == "warn"
    assert check.fix is not None and check.fix.startswith("set maxmemory-policy volatile-lru")


async def test_the_password_from_the_environment_is_used_and_never_shown(
    redis_settings: Callable[..., Settings],
    redis_server: RedisServer,
    fake: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redis_store, "OP_TIMEOUT", 2.0)  # it expects "connected": not a timing test
    settings = redis_settings(
        redis_url=Secret(redis_server.url_without_password), redis_password=Secret(REDIS_PASSWORD)
    )
    service = HexService(settings)
    try:
        with caplog.at_level(logging.DEBUG):
            await service.package("jason")
            meta = await service.meta()
            health = await service.store_info()
    finally:
        await service.aclose()
    assert service.shared is not None and service.shared.connected
    text = render.meta(meta)
    assert f"shared store: redis 127.0.0.1:{redis_server.port} · connected · 3 keys" in text.splitlines()
    assert health == {
        "kind": "redis",
        "where": f"127.0.0.1:{redis_server.port}",
        "connected": True,
        "keys": 3,
    }
    for where, value in (
        ("meta", text + meta.model_dump_json()),
        ("healthz", json.dumps(health)),
        ("settings repr", repr(settings)),
        ("store repr", repr(service.shared)),
        ("logs", caplog.text),
    ):
        assert_clean(where, value)


async def test_a_wrong_password_degrades_quietly_and_never_leaks(
    redis_settings: Callable[..., Settings],
    redis_server: RedisServer,
    fake: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://default:{WRONG_PASSWORD}@127.0.0.1:{redis_server.port}/0"
    settings = redis_settings(redis_url=Secret(url))
    service = HexService(settings)
    try:
        with caplog.at_level(logging.DEBUG):
            view = await service.package("jason")
            meta = render.meta(await service.meta())
    finally:
        await service.aclose()
    assert view.name == "jason"
    assert "degraded" in meta
    store = service.shared
    assert isinstance(store, RedisStore) and store.last_error is not None
    for where, value in (
        ("meta", meta),
        ("logs", caplog.text),
        ("error", store.last_error),
        ("repr", repr(store)),
    ):
        assert_clean(where, value)


@contextmanager
def replica(
    redis_server: RedisServer, fake: FakeUpstream, tmp_path: Path, *extra: str, prefix: str | None = None
) -> Iterator[tuple[str, str]]:
    """hex-mcp over Streamable HTTP on the session's Redis, logging at DEBUG; yields (base URL, its stderr)."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.environ.get(
            "PYTHONPATH", ""
        ),  # a source checkout run with PYTHONPATH=. tests itself
        "HEX_MCP_BACKEND": "hexpm",
        "HEX_MCP_BASE_URL": fake.hexpm_url,
        "HEX_MCP_REGISTRY": "off",
        "HEX_MCP_CACHE_DIR": str(tmp_path / f"cache{port}"),  # each replica its own: only Redis is shared
        "HEX_MCP_REDIS_URL": redis_server.url,
        "HEX_MCP_REDIS_PREFIX": prefix or f"http{port}:",
        "HEX_MCP_LOG_LEVEL": "DEBUG",
    }
    log = tmp_path / f"stderr{port}.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [hex_mcp_command(), "--transport", "streamable-http", "--port", str(port), *extra],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_health(base, proc)
            yield base, str(log)
        finally:
            proc.terminate()
            proc.wait(timeout=15)


@pytest.fixture
def http_replica(redis_server: RedisServer, fake: FakeUpstream, tmp_path: Path) -> Iterator[tuple[str, str]]:
    with replica(redis_server, fake, tmp_path) as running:
        yield running


@pytest.mark.slow
def test_stateless_replicas_behind_a_round_robin_share_one_answer(
    redis_server: RedisServer, fake: FakeUpstream, tmp_path: Path
) -> None:
    """What a load balancer does: the handshake on one replica, the calls on the others, no session affinity."""
    prefix = f"lb{free_port()}:"
    with (
        replica(redis_server, fake, tmp_path, "--stateless-http", prefix=prefix) as (first, _),
        replica(redis_server, fake, tmp_path, "--stateless-http", prefix=prefix) as (second, _),
    ):
        init = httpx2.post(f"{first}/mcp", json=INITIALIZE, headers=MCP_HEADERS, timeout=10)
        assert init.status_code == 200 and "mcp-session-id" not in init.headers
        headers = {**MCP_HEADERS, "mcp-protocol-version": INITIALIZE["params"]["protocolVersion"]}
        texts = []
        for index, base in enumerate((second, first, second)):
            call = {
                "jsonrpc": "2.0",
                "id": 10 + index,
                "method": "tools/call",
                "params": {"name": "hex_package", "arguments": {"name": "jason"}},
            }
            reply = httpx2.post(f"{base}/mcp", json=call, headers=headers, timeout=10)
            assert reply.status_code == 200, reply.text
            texts.append(reply.text)
    assert all("jason — " in text for text in texts)
    assert fake.count("/api/packages/jason") == 1


@pytest.mark.slow
def test_healthz_shows_the_store_and_no_process_output_shows_the_password(
    http_replica: tuple[str, str], redis_server: RedisServer
) -> None:
    base, log = http_replica
    body = httpx2.get(f"{base}/healthz", timeout=5).json()
    assert body["store"] == {
        "kind": "redis",
        "where": f"127.0.0.1:{redis_server.port}",
        "connected": True,
        "keys": 0,
    }
    assert_clean("healthz", json.dumps(body))
    assert_clean("server log", Path(log).read_text(encoding="utf-8", errors="replace"))
