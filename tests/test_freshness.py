"""Freshness policy, revalidation, stale-if-error, single flight, rate governance, quota and offline mode."""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client

from fakehex.upstream import FakeUpstream, Fault
from hex_mcp import cli
from hex_mcp.config import Settings, TTLs
from hex_mcp.errors import OfflineMiss, PackageNotFound, QuotaExhausted, RateLimited, UpstreamUnavailable
from hex_mcp.fetch import SingleFlight
from hex_mcp.server import create_server
from hex_mcp.service import HexService

pytestmark = pytest.mark.anyio

EXPIRED = TTLs.uniform(0)


async def test_fresh_entry_makes_no_upstream_call(settings: Settings, fake: FakeUpstream) -> None:
    service = HexService(settings)
    first = await service.package("jason")
    second = await service.package("jason")
    await service.aclose()
    assert fake.count("/api/packages/jason") == 1
    assert first.freshness.from_cache is False and second.freshness.from_cache is True
    assert second.freshness.source == "hexpm" and second.freshness.stale_reason is None


async def test_expired_entry_is_revalidated_with_the_etag(settings: Settings, fake: FakeUpstream) -> None:
    service = HexService(dataclasses.replace(settings, ttls=EXPIRED))
    await service.package("jason")
    view = await service.package("jason")
    await service.aclose()
    first, second = [h for h in fake.hits if h.path == "/api/packages/jason"]
    assert "if-none-match" not in first.headers
    etag = second.headers["if-none-match"]
    assert len(etag) == 32 and '"' not in etag  # hex.pm's unquoted md5, sent back byte for byte
    assert view.freshness.from_cache is False  # refreshed by the 304
    assert view.name == "jason"


async def test_304_refreshes_the_entry_without_a_body(settings: Settings, fake: FakeUpstream) -> None:
    service = HexService(dataclasses.replace(settings, ttls=EXPIRED))
    await service.package("plug")
    key = service.cache.key(service.backend.package_endpoint("plug"))
    before = service.cache.get(key)
    assert before is not None
    await anyio.sleep(0.01)
    await service.package("plug")
    after = service.cache.get(key)
    await service.aclose()
    assert after is not None and after.fetched_at > before.fetched_at
    assert after.data == before.data and after.etag == before.etag


async def test_errors_other_than_404_are_never_cached(settings: Settings, fake: FakeUpstream) -> None:
    fake.add_fault(Fault("status", "/api/packages/mime", times=1, status=500))
    async with Client(create_server(settings)) as c:  # type: ignore[arg-type]
        failed = await c.call_tool("hex_package", {"name": "mime"})
        answered = await c.call_tool("hex_package", {"name": "mime"})
        missing = await c.call_tool("hex_package", {"name": "no_such_pkg"})
        missing_again = await c.call_tool("hex_package", {"name": "no_such_pkg"})
    assert failed.is_error and not answered.is_error
    assert missing.is_error and missing_again.is_error
    assert fake.count("/api/packages/mime") == 2
    assert fake.count("/api/packages/no_such_pkg") == 1  # a 404 alone is remembered, for not_found_ttl


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault("status", status=503), "hex.pm failed on its side (HTTP 503)"),
        (
            Fault("ratelimited"),
            "hex.pm rate limit reached (HTTP 429; 100 requests/minute per IP without a key)",
        ),
        (Fault("malformed"), "hex.pm sent malformed JSON"),
        (Fault("drop"), "hex.pm is unreachable (RemoteProtocolError)"),
    ],
)
async def test_stale_answer_when_upstream_fails(
    settings: Settings, fake: FakeUpstream, fault: Fault, reason: str
) -> None:
    server_settings = dataclasses.replace(settings, ttls=EXPIRED)
    async with Client(create_server(server_settings)) as c:  # type: ignore[arg-type]
        await c.call_tool("hex_package", {"name": "jason"})
        fake.add_fault(fault)
        result = await c.call_tool("hex_package", {"name": "jason"})
    assert not result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    last = text.splitlines()[-1]
    assert last.startswith("source: hex.pm · STALE cache, ")
    assert f"old — live call failed: {reason}" in last
    assert result.structured_content is not None
    assert result.structured_content["freshness"]["stale_reason"].startswith(reason)
    assert result.structured_content["freshness"]["from_cache"] is True


async def test_stale_answer_when_unreachable(settings: Settings) -> None:
    expired = dataclasses.replace(settings, ttls=EXPIRED)
    service = HexService(expired)
    await service.package("jason")
    await service.aclose()
    dead = HexService(expired, http_transport=_refusing_transport())
    view = await dead.package("jason")
    await dead.aclose()
    assert view.freshness.stale_reason == "hex.pm is unreachable (ConnectError)"


def _refusing_transport() -> httpx2.MockTransport:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    return httpx2.MockTransport(refuse)


async def test_not_found_is_not_papered_over_by_stale_data(settings: Settings, fake: FakeUpstream) -> None:
    service = HexService(dataclasses.replace(settings, ttls=EXPIRED))
    await service.package("jason")
    fake.add_fault(Fault("status", "/api/packages/jason", status=404))
    with pytest.raises(Exception, match="No package 'jason' on Hex"):
        await service.package("jason")
    await service.aclose()


async def test_single_flight(settings: Settings, fake: FakeUpstream) -> None:
    fake.add_fault(Fault("delay", "/api/packages/ecto", times=1, seconds=0.3))
    async with Client(create_server(settings)) as c:  # type: ignore[arg-type]
        results: list[bool] = []

        async def call() -> None:
            result = await c.call_tool("hex_package", {"name": "ecto"})
            results.append(bool(result.is_error))

        async with anyio.create_task_group() as tg:
            for _ in range(30):
                tg.start_soon(call)
    assert results == [False] * 30
    assert fake.count("/api/packages/ecto") == 1


async def test_single_flight_shares_failures() -> None:
    flight = SingleFlight()
    started = anyio.Event()
    calls = 0

    async def failing() -> None:
        nonlocal calls
        calls += 1
        started.set()
        await anyio.sleep(0.05)
        raise PackageNotFound("ecto")

    errors: list[str] = []

    async def call() -> None:
        try:
            await flight.run("k", failing)
        except PackageNotFound as exc:
            errors.append(exc.name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        await started.wait()
        for _ in range(4):
            tg.start_soon(call)
    assert calls == 1 and errors == ["ecto"] * 5


async def test_closed_rate_window_makes_no_call_and_serves_stale(
    settings: Settings, fake: FakeUpstream
) -> None:
    service = HexService(dataclasses.replace(settings, ttls=EXPIRED))
    await service.package("jason")
    fake.ratelimit.update(remaining=1, reset=int(time.time()) + 50)
    await service.package("jason")  # this call uses the last request of the window
    hits = fake.count()
    view = await service.package("jason")
    assert fake.count() == hits  # governed: no call while the window is closed
    assert (
        view.freshness.stale_reason is not None
        and "rate window is closed until" in view.freshness.stale_reason
    )
    with pytest.raises(RateLimited, match="no call was made"):
        await service.package("plug")  # nothing cached: a clear error with the reset time
    await service.aclose()


async def test_monthly_quota(make_settings: Callable[..., Settings], fake: FakeUpstream) -> None:
    settings = make_settings("oanor", monthly_quota=2)
    service = HexService(settings)
    await service.package("jason")
    await service.package("plug")
    assert await service.package("jason")  # cached answers still flow
    with pytest.raises(QuotaExhausted) as info:
        await service.package("mime")
    await service.aclose()
    assert "HEX_MCP_MONTHLY_QUOTA=2" in str(info.value)
    assert fake.count("/hex-api/") == 2
    # Persisted: a new process (here: a new service on the same dir) sees the same count.
    again = HexService(settings)
    meta = await again.meta()
    await again.aclose()
    assert meta.upstream_calls_month == 2 and meta.monthly_quota == 2


async def test_quota_exhausted_serves_stale(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    settings = make_settings("oanor", monthly_quota=1, ttls=EXPIRED)
    service = HexService(settings)
    await service.package("jason")
    view = await service.package("jason")
    await service.aclose()
    assert view.freshness.stale_reason is not None
    assert view.freshness.stale_reason.startswith("The monthly upstream call budget is spent")


async def test_offline_mode(settings: Settings, fake: FakeUpstream) -> None:
    online = HexService(dataclasses.replace(settings, ttls=EXPIRED))
    await online.package("jason")
    await online.aclose()
    hits = fake.count()
    offline = HexService(dataclasses.replace(settings, ttls=EXPIRED, offline=True))
    view = await offline.package("jason")  # expired, but offline answers whatever the age
    assert view.freshness.from_cache is True
    with pytest.raises(OfflineMiss, match="hex-mcp cache warm"):
        await offline.package("plug")
    await offline.aclose()
    assert fake.count() == hits


async def test_meta_reports_cache_quota_and_rate(settings: Settings, fake: FakeUpstream) -> None:
    service = HexService(dataclasses.replace(settings, monthly_quota=3490))
    await service.package("jason")
    await service.package("jason")
    meta = await service.meta()
    await service.aclose()
    assert meta.cache_entries == 1 and meta.hit_ratio == 0.5
    assert meta.upstream_calls_month == 1 and meta.monthly_quota == 3490
    assert meta.rate_limit is not None and meta.rate_limit.limit == 100
    assert meta.cache_dir == str(settings.cache_dir)


def _cli(args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> int:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return cli.main(args)


def test_cache_commands(
    settings: Settings,
    fake: FakeUpstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = {
        "HEX_MCP_BASE_URL": settings.base_url,
        "HEX_MCP_REGISTRY": "off",  # these pin the API path; no launched server may reach repo.hex.pm
        "HEX_MCP_CACHE_DIR": str(tmp_path / "ops"),
        "HEX_MCP_BACKEND": "hexpm",
    }
    assert _cli(["cache", "warm", "jason", "tiny_slug", "no_such_pkg"], env, monkeypatch) == 1
    out, err = capsys.readouterr()
    assert "[1/3] jason: ok (" in err and "latest stable 1.4.4)" in err
    assert "[2/3] tiny_slug: ok (4 releases, latest stable 0.2.1)" in err
    assert "[3/3] no_such_pkg: failed — No package 'no_such_pkg' on Hex" in err
    assert out.startswith("warmed 2 of 3 packages into ")
    assert fake.count("/api/packages/jason/releases/1.4.4") == 1

    assert _cli(["cache", "stats"], env, monkeypatch) == 0
    out = capsys.readouterr().out
    assert "entries: 4\n" in out and "upstream calls this month (hexpm): " in out

    snapshot = tmp_path / "snap.json"
    assert _cli(["cache", "export", str(snapshot)], env, monkeypatch) == 0
    assert capsys.readouterr().out == f"exported 4 entries to {snapshot}\n"
    assert len(json.loads(snapshot.read_text())["entries"]) == 4

    assert _cli(["cache", "clear"], env, monkeypatch) == 0
    assert capsys.readouterr().out.startswith("removed 4 entries from ")

    replay = {**env, "HEX_MCP_CACHE_DIR": str(tmp_path / "replay")}
    assert _cli(["cache", "import", str(snapshot)], replay, monkeypatch) == 0
    assert capsys.readouterr().out.startswith("imported 4 entries into ")
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert _cli(["cache", "import", str(bad)], replay, monkeypatch) == 1
    assert "is not a hex-mcp cache snapshot" in capsys.readouterr().err


async def test_imported_snapshot_replays_offline_with_no_upstream(
    settings: Settings, fake: FakeUpstream, tmp_path: Path
) -> None:
    source = HexService(settings)
    await source.package("jason")
    await source.release("jason", "1.4.4")
    source.cache.export(tmp_path / "snap.json")
    await source.aclose()
    hits = fake.count()
    replay_settings = dataclasses.replace(settings, cache_dir=tmp_path / "replay", offline=True)
    replay = HexService(replay_settings)
    replay.cache.import_(tmp_path / "snap.json")
    assert (await replay.package("jason")).latest_stable_version == "1.4.4"
    assert (await replay.release("jason", "1.4.4")).release.checksum
    await replay.aclose()
    assert fake.count() == hits


async def test_fresh_parsed_answer_is_reused_without_the_disk(settings: Settings, fake: FakeUpstream) -> None:
    service = HexService(settings)
    await service.package("jason")
    service.cache.clear()  # the disk entry is gone, the parsed answer of this process is still fresh
    view = await service.package("jason")
    await service.aclose()
    assert view.freshness.from_cache is True
    assert fake.count("/api/packages/jason") == 1


async def test_no_cache_means_no_caching_at_all(settings: Settings, fake: FakeUpstream) -> None:
    service = HexService(dataclasses.replace(settings, cache_enabled=False))
    await service.package("jason")
    view = await service.package("jason")
    await service.aclose()
    assert view.freshness.from_cache is False
    assert fake.count("/api/packages/jason") == 2


async def test_reused_answer_expires_with_its_ttl(settings: Settings, fake: FakeUpstream) -> None:
    service = HexService(dataclasses.replace(settings, ttls=EXPIRED))
    await service.release("jason", "1.4.4")
    await service.release("jason", "1.4.4")
    await service.aclose()
    assert fake.count("/api/packages/jason/releases/1.4.4") == 2  # revalidated, not served from memory


async def test_a_request_that_never_reached_the_upstream_costs_no_quota(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    with socket.socket() as probe:  # a loopback port that nothing listens on: the connection is refused
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    refused = HexService(make_settings("hexpm", base_url=f"http://127.0.0.1:{closed}/api", monthly_quota=5))
    with pytest.raises(UpstreamUnavailable, match="unreachable"):
        await refused.package("jason")
    assert refused.budget.used() == 0
    await refused.aclose()

    fake.add_fault(Fault("status", status=500, times=1))  # reached the upstream: counted, whatever the answer
    reached = HexService(make_settings("hexpm", monthly_quota=5))
    with pytest.raises(UpstreamUnavailable):
        await reached.package("jason")
    assert reached.budget.used() == 1
    await reached.aclose()
