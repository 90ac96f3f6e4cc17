"""The Redis store against a real redis-server: shared answers, one quota, one rate window, single flight across
replicas, and Redis trouble that never fails a call.

Each "replica" is a HexService with its own disk cache directory, all on the session's Redis under a prefix of the
test's own, so the only thing they share is Redis.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import redis as sync_redis

from fakehex.redis_server import RedisServer
from fakehex.upstream import FakeUpstream
from hex_mcp import redis_store, render
from hex_mcp.backends import Endpoint
from hex_mcp.cache import CacheEntry, ResponseCache, month_key
from hex_mcp.cli import main
from hex_mcp.config import ConfigError, Secret, Settings, parse_redis_prefix, parse_redis_url
from hex_mcp.errors import QuotaExhausted, RateLimited
from hex_mcp.fetch import Fetcher
from hex_mcp.redis_store import RedisStore, describe_url, is_private
from hex_mcp.service import HexService
from hex_mcp.upstream import UpstreamClient
from tests.conftest import REDIS_PASSWORD

pytestmark = pytest.mark.anyio

PACKAGES = ["phoenix", "jason", "plug", "ecto", "telemetry"]


def direct(settings: Settings) -> sync_redis.Redis:
    assert settings.redis_url is not None
    return sync_redis.Redis.from_url(settings.redis_url.reveal(), decode_responses=True)


@pytest.fixture
async def replicas(
    redis_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., list[HexService]]]:
    """Services on the session's Redis. They count upstream calls exactly, so a loaded test machine must not turn
    them into timing tests: their Redis deadline is 2 s (the 200 ms bound has tests of its own below)."""
    monkeypatch.setattr(redis_store, "OP_TIMEOUT", 2.0)
    made: list[HexService] = []

    def make(n: int = 3, **overrides: Any) -> list[HexService]:
        for i in range(n):
            made.append(
                HexService(redis_settings(cache_dir=tmp_path / f"replica{len(made)}-{i}", **overrides))
            )
        return made[-n:]

    yield make
    for service in made:
        await service.aclose()


# -- settings ------------------------------------------------------------------------------------------------


def test_settings_read_the_redis_variables() -> None:
    settings = Settings.from_env(
        {
            "HEX_MCP_REDIS_URL": "rediss://cache.internal:6380/2",
            "HEX_MCP_REDIS_PREFIX": "team-a:",
            "HEX_MCP_REDIS_PASSWORD": "pw-from-env",
        }
    )
    assert settings.redis_url == Secret("rediss://cache.internal:6380/2")
    assert (settings.redis_prefix, settings.redis_password) == ("team-a:", Secret("pw-from-env"))
    assert "pw-from-env" not in repr(settings)
    assert Settings.from_env({}).redis_url is None


@pytest.mark.parametrize("url", ["http://h:6379", "redis:/h", "6379", "redis://"])
def test_a_url_that_is_not_redis_is_refused_without_repeating_it(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_redis_url("HEX_MCP_REDIS_URL", url)
    assert str(caught.value) == (
        "HEX_MCP_REDIS_URL is not a Redis URL: use redis://HOST:PORT/DB, rediss://HOST:PORT/DB (TLS) or "
        "unix:///PATH"
    )


def test_a_missing_redis_client_is_a_setup_error_before_serving(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # what `import redis` sees without the extra
    assert main(["--redis-url", "redis://:pw@127.0.0.1:1/0"]) == 2
    assert capsys.readouterr().err == (
        "hex-mcp: HEX_MCP_REDIS_URL is set but the Redis client is not installed: "
        "pip install 'mcp-server-hexpm[redis]'\n"
    )


def test_the_flag_checks_the_url_without_echoing_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--redis-url", "http://:hunter2@127.0.0.1:1", "tools"])
    err = capsys.readouterr().err
    assert "--redis-url is not a Redis URL" in err and "hunter2" not in err


def test_a_prefix_with_glob_characters_is_refused() -> None:
    with pytest.raises(ConfigError, match="without spaces or glob characters"):
        parse_redis_prefix("HEX_MCP_REDIS_PREFIX", "team*:")


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("redis://:pw@10.0.0.5:6380/1", "10.0.0.5:6380"),
        ("rediss://user:pw@cache.example/0", "cache.example:6379"),
        ("redis://[::1]:7000", "[::1]:7000"),
        ("unix:///run/redis.sock?password=pw", "/run/redis.sock"),
    ],
)
def test_the_store_is_named_by_host_and_port_only(url: str, where: str) -> None:
    assert describe_url(url) == where


def test_private_paths_are_never_shared() -> None:
    assert is_private(Endpoint("package", "/repos/acme/packages/secret"))
    assert is_private(Endpoint("package", "/orgs/acme"))
    assert not is_private(Endpoint("package", "/packages/phoenix"))


# -- shared answers ----------------------------------------------------------------------------------------


async def test_replicas_share_answers_and_make_one_upstream_call_per_question(
    replicas: Callable[..., list[HexService]], fake: FakeUpstream
) -> None:
    services = replicas(3)
    async with anyio.create_task_group() as tg:
        for i in range(60):
            tg.start_soon(services[i % 3].package, PACKAGES[i % len(PACKAGES)])
    assert sorted(h.path for h in fake.hits) == sorted(f"/api/packages/{name}" for name in PACKAGES)
    # A replica that never asked answers from Redis, without a call.
    view = await replicas(1)[0].package("phoenix")
    assert view.freshness.from_cache
    assert fake.count() == len(PACKAGES)


async def test_answers_are_json_under_the_prefix_and_backend_with_ttl_and_stale_window(
    replicas: Callable[..., list[HexService]], fake: FakeUpstream
) -> None:
    (service,) = replicas(1)
    await service.package("jason")
    r = direct(service.settings)
    prefix = service.settings.redis_prefix
    key = f"{prefix}hexpm:answer:{fake.hexpm_url}|/packages/jason?"
    stored = json.loads(r.get(key) or "null")
    assert set(stored) == {"data", "fetched_at", "etag"}
    assert stored["data"]["name"] == "jason"
    expected = service.settings.ttls.package + service.settings.stale_for
    assert expected - 5 <= r.ttl(key) <= expected
    counter = f"{prefix}hexpm:calls:{month_key()}"
    assert (r.get(counter), r.ttl(counter)) == ("1", -1)  # no TTL: volatile-lru never evicts it


async def test_a_shared_entry_that_is_not_ours_is_ignored_and_refetched(
    replicas: Callable[..., list[HexService]], fake: FakeUpstream
) -> None:
    (service,) = replicas(1)
    key = f"{service.settings.redis_prefix}hexpm:answer:{fake.hexpm_url}|/packages/jason?"
    direct(service.settings).set(key, "\x80\x04K\x01.")  # a pickle, say
    view = await service.package("jason")
    assert (view.name, view.freshness.from_cache, fake.count()) == ("jason", False, 1)


async def test_private_answers_stay_in_the_local_cache(redis_settings: Callable[..., Settings]) -> None:
    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"name": "secret", "private": True})

    settings = redis_settings()
    store = RedisStore(settings)
    cache = ResponseCache(settings)
    client = UpstreamClient(settings, http_transport=httpx2.MockTransport(answer))
    fetcher = Fetcher(settings, cache, client, None, store)
    try:
        got = await fetcher.fetch(Endpoint("package", "/repos/acme/packages/secret"), lambda d: d, memo="id")
        assert got.value == {"name": "secret", "private": True}
        assert await store.answer_keys() == []
        assert cache.get(cache.key(Endpoint("package", "/repos/acme/packages/secret"))) is not None
    finally:
        await client.aclose()
        await store.aclose()
        cache.close()


# -- single flight across replicas -------------------------------------------------------------------------


async def test_a_crashed_holders_lock_delays_the_others_only_until_it_expires(
    replicas: Callable[..., list[HexService]], fake: FakeUpstream
) -> None:
    (service,) = replicas(1)
    store = service.shared
    assert store is not None
    key = service.cache.key(service.backend.package_endpoint("plug"))
    direct(service.settings).set(store.lock_key(key), "someone-else", px=300)
    started = time.monotonic()
    view = await service.package("plug")
    waited = time.monotonic() - started
    assert (view.name, fake.count()) == ("plug", 1)
    assert waited >= 0.25  # it waited for the holder's lock to lapse, then called upstream itself


async def test_a_waiter_takes_the_answer_the_holder_stored(
    replicas: Callable[..., list[HexService]], fake: FakeUpstream
) -> None:
    first, second = replicas(2)
    store = first.shared
    assert store is not None
    key = first.cache.key(first.backend.package_endpoint("plug"))
    token = await store.lock(key, 5)
    assert isinstance(token, str)

    async def holder() -> None:
        await anyio.sleep(0.2)
        entry = CacheEntry({"name": "plug-from-the-holder"}, time.time(), None)
        await store.set_entry(key, entry, 60)
        await store.unlock(key, token)

    async with anyio.create_task_group() as tg:
        tg.start_soon(holder)
        got = await second.fetcher.fetch(first.backend.package_endpoint("plug"), lambda d: d, memo="id")
    assert got.value == {"name": "plug-from-the-holder"}
    assert fake.count() == 0


# -- one monthly quota -------------------------------------------------------------------------------------


async def test_replicas_together_never_pass_the_monthly_quota(
    replicas: Callable[..., list[HexService]], fake: FakeUpstream
) -> None:
    services = replicas(3, monthly_quota=3)
    outcomes: list[str] = []

    async def ask(service: HexService, name: str) -> None:
        try:
            await service.package(name)
            outcomes.append("ok")
        except QuotaExhausted:
            outcomes.append("quota")

    names = [*PACKAGES, "cowboy", "ranch", "decimal", "mime", "castore"]
    async with anyio.create_task_group() as tg:
        for i, name in enumerate(names):
            tg.start_soon(ask, services[i % 3], name)
    assert (outcomes.count("ok"), outcomes.count("quota"), fake.count()) == (3, 7, 3)
    r = direct(services[0].settings)
    assert r.get(f"{services[0].settings.redis_prefix}hexpm:calls:{month_key()}") == "3"
    assert (await services[2].meta()).upstream_calls_month == 3


async def test_an_attempt_that_never_reached_upstream_is_given_back(
    redis_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    closed = f"http://127.0.0.1:{_closed_port()}"
    service = HexService(
        redis_settings(cache_dir=tmp_path / "c", monthly_quota=5).with_backend("hexpm", closed)
    )
    try:
        with pytest.raises(Exception, match="unreachable"):
            await service.package("jason")
        assert await service.budget.used_now() == 0
    finally:
        await service.aclose()


# -- one rate window ---------------------------------------------------------------------------------------


async def test_a_closed_rate_window_seen_by_one_replica_holds_the_others(
    replicas: Callable[..., list[HexService]], fake: FakeUpstream
) -> None:
    first, second = replicas(2)
    fake.ratelimit = {"limit": 100, "remaining": 1, "reset": int(time.time()) + 40}
    await first.package("jason")  # its answer says: 0 left until the reset
    with pytest.raises(RateLimited, match="rate window is closed"):
        await second.package("plug")
    assert [h.path for h in fake.hits] == ["/api/packages/jason"]
    assert second.upstream.rate.remaining == 0


async def test_a_planted_rate_window_closed_for_days_is_ignored(
    replicas: Callable[..., list[HexService]], fake: FakeUpstream
) -> None:
    (service,) = replicas(1)
    key = f"{service.settings.redis_prefix}hexpm:rate"
    far = time.time() + 5 * 86_400
    direct(service.settings).hset(key, mapping={"remaining": "0", "reset": str(far), "seen_at": str(far)})
    assert (await service.package("jason")).name == "jason"


async def test_max_rps_is_one_pace_for_all_replicas(
    replicas: Callable[..., list[HexService]], fake: FakeUpstream
) -> None:
    services = replicas(2, max_rps=50.0)
    await services[0].package("jason")
    r = direct(services[0].settings)
    next_slot = r.get(f"{services[0].settings.redis_prefix}hexpm:rate:next")
    assert next_slot is not None
    await services[1].package("plug")
    assert int(r.get(f"{services[0].settings.redis_prefix}hexpm:rate:next") or 0) >= int(next_slot) + 20_000


# -- Redis trouble never fails a call ----------------------------------------------------------------------


def test_what_redis_or_its_client_says_is_logged_without_the_password(
    redis_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisStore(redis_settings(redis_url=Secret("redis://:p%40ss-SECRET@127.0.0.1:1/0")))
    with caplog.at_level(logging.DEBUG):
        store._trouble("a read", ConnectionError("refused by p@ss-SECRET and p%40ss-SECRET"))
    assert store.last_error == "ConnectionError: refused by ******** and ********"
    assert "SECRET" not in caplog.text and "********" in caplog.text


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def own_redis(redis_server: RedisServer) -> Iterator[RedisServer]:
    """A Redis of this test's own, to stop and start."""
    with RedisServer(password=REDIS_PASSWORD) as server:
        yield server


async def test_redis_down_from_the_start_costs_no_call(
    make_settings: Callable[..., Settings], fake: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    port = _closed_port()
    settings = make_settings(redis_url=Secret(f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0"))
    service = HexService(settings)
    try:
        with caplog.at_level(logging.WARNING):
            started = time.monotonic()
            for name in PACKAGES:
                assert (await service.package(name)).name == name
            assert (await service.package("jason")).freshness.from_cache  # the local disk cache answers
            assert time.monotonic() - started < 5  # generous: five upstream calls and one 200 ms probe
            meta = render.meta(await service.meta())
    finally:
        await service.aclose()
    warnings = [r for r in caplog.records if r.name == "hex_mcp.redis_store"]
    assert len(warnings) == 1 and warnings[0].exc_info is None
    assert warnings[0].getMessage().startswith(f"redis 127.0.0.1:{port} unavailable during a read")
    assert "shared store: redis 127.0.0.1:" in meta and "degraded (serving from the local cache)" in meta
    assert service.budget.used() == len(PACKAGES)


async def test_redis_that_dies_and_returns_is_used_again(
    own_redis: RedisServer,
    make_settings: Callable[..., Settings],
    fake: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redis_store, "RETRY_SECONDS", 0.2)
    service = HexService(make_settings(redis_url=Secret(own_redis.url)))
    try:
        await service.package("jason")
        own_redis.stop()
        assert (await service.package("plug")).name == "plug"
        assert service.shared is not None and not service.shared.connected
        own_redis.start()  # empty: no persistence
        await anyio.sleep(0.3)
        counter = f"hexmcp:hexpm:calls:{month_key()}"
        await service.shared.count_keys()  # any operation that finds Redis back adds the calls made meanwhile
        assert direct(service.settings).get(counter) == "1"
        await service.package("ecto")
        assert service.shared.connected
        assert direct(service.settings).get(counter) == "2"
        assert await service.shared.answer_keys() == [f"hexmcp:hexpm:answer:{fake.hexpm_url}|/packages/ecto?"]
    finally:
        await service.aclose()


async def test_a_stalled_redis_is_given_200_ms_then_skipped(
    own_redis: RedisServer, make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    service = HexService(make_settings(redis_url=Secret(own_redis.url)))
    try:
        await service.package("jason")
        direct(service.settings).execute_command("CLIENT", "PAUSE", "1500", "ALL")
        started = time.monotonic()
        assert (await service.package("plug")).name == "plug"
        assert time.monotonic() - started < 1.2  # it did not wait out the 1.5 s pause
        assert service.shared is not None and not service.shared.connected
    finally:
        direct(service.settings).execute_command("CLIENT", "UNPAUSE")
        await service.aclose()


async def test_a_full_redis_only_stops_sharing_new_answers(
    own_redis: RedisServer, make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    r = sync_redis.Redis.from_url(own_redis.url)
    r.config_set("maxmemory", "1")  # far below what is used: every write is refused (OOM)
    service = HexService(make_settings(redis_url=Secret(own_redis.url)))
    try:
        assert (await service.package("jason")).name == "jason"
        assert (await service.package("jason")).freshness.from_cache  # from the local cache
    finally:
        r.config_set("maxmemory", "0")
        await service.aclose()


# -- rediss:// ---------------------------------------------------------------------------------------------


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no trust store knows, and its key."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hex-mcp test redis")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "redis.crt", directory / "redis.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_redis(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[RedisServer, Path]]:
    cert, key = _self_signed(tmp_path)
    with RedisServer(password=REDIS_PASSWORD, tls=(cert, key)) as server:
        yield server, cert


async def test_rediss_checks_the_servers_certificate(
    tls_redis: tuple[RedisServer, Path], make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    server, cert = tls_redis
    untrusted = RedisStore(make_settings(redis_url=Secret(server.url)))
    trusted = RedisStore(make_settings(redis_url=Secret(f"{server.url}?ssl_ca_certs={cert}")))
    try:
        assert isinstance(await untrusted.calls("hexpm"), type(redis_store.UNAVAILABLE))
        assert "CERTIFICATE_VERIFY_FAILED" in (untrusted.last_error or "")
        assert await trusted.calls("hexpm") == 0
    finally:
        await untrusted.aclose()
        await trusted.aclose()
