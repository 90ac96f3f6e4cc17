"""Concurrent calls: many at once over one stdio session all answer right; identical ones share one fetch."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.session import ClientSession
from mcp.client.stdio import stdio_client

from fakehex.upstream import DEFAULT_FIXTURES, FakeUpstream, Fault
from hex_mcp.config import Settings
from hex_mcp.server import create_server
from tests.test_e2e import hex_mcp_command, server_env

pytestmark = pytest.mark.anyio

PACKAGES = [
    "phoenix",
    "jason",
    "plug",
    "ecto",
    "telemetry",
    "decimal",
    "mime",
    "plug_cowboy",
    "cowboy",
    "bandit",
]


def latest_stable(name: str) -> str:
    doc = json.loads((DEFAULT_FIXTURES / "packages" / f"{name}.json").read_text(encoding="utf-8"))
    value: str = doc["latest_stable_version"]
    return value


def mixed_calls() -> list[tuple[str, dict[str, Any], Callable[[Any], None]]]:
    """50 calls over five tools, each with a check of its own answer."""
    calls: list[tuple[str, dict[str, Any], Callable[[Any], None]]] = []

    def package_check(name: str) -> Callable[[Any], None]:
        def check(result: Any) -> None:
            assert result.content[0].text.startswith(f"{name} — ")
            assert result.structured_content["name"] == name
            assert result.structured_content["latest_stable_version"] == latest_stable(name)

        return check

    def releases_check(name: str) -> Callable[[Any], None]:
        def check(result: Any) -> None:
            assert result.structured_content["name"] == name
            assert result.structured_content["latest_stable_version"] == latest_stable(name)
            assert result.structured_content["shown"] == 3

        return check

    def release_check(name: str) -> Callable[[Any], None]:
        def check(result: Any) -> None:
            assert result.structured_content["release"]["package"] == name
            assert result.structured_content["release"]["version"] == latest_stable(name)

        return check

    def search_check(q: str) -> Callable[[Any], None]:
        def check(result: Any) -> None:
            assert result.structured_content["query"] == q
            assert result.structured_content["hits"], q

        return check

    def meta_check(result: Any) -> None:
        assert result.structured_content["backend"] == "hexpm"

    for name in PACKAGES:
        calls.append(("hex_package", {"name": name}, package_check(name)))
        calls.append(("hex_releases", {"name": name, "limit": 3}, releases_check(name)))
        calls.append(("hex_release", {"name": name}, release_check(name)))
        calls.append(("hex_search", {"q": name, "limit": 5}, search_check(name)))
        calls.append(("hex_meta", {}, meta_check))
    assert len(calls) == 50
    return calls


@pytest.mark.slow
async def test_50_concurrent_mixed_calls_over_stdio(fake: FakeUpstream, tmp_path: Path) -> None:
    env = server_env(fake, "hexpm", tmp_path)
    params = StdioServerParameters(command=hex_mcp_command(), args=[], env=env)
    calls = mixed_calls()
    answered: dict[int, Any] = {}
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()

        async def call(index: int, tool: str, args: dict[str, Any]) -> None:
            answered[index] = await session.call_tool(tool, args)

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for index, (tool, args, _) in enumerate(calls):
                    tg.start_soon(call, index, tool, args)
    assert sorted(answered) == list(range(len(calls)))  # no lost responses
    for index, (tool, args, check) in enumerate(calls):
        result = answered[index]
        assert not result.is_error, (tool, args, result.content)
        check(result)
    assert fake.count() > 0


@pytest.mark.parametrize("backend_name", ["hexpm", "oanor"])
async def test_single_flight(
    fake: FakeUpstream, make_settings: Callable[..., Settings], backend_name: str
) -> None:
    """30 concurrent calls for one uncached package cost one upstream request, and all get the answer."""
    path = "/api/packages/jason" if backend_name == "hexpm" else "/hex-api/v1/package"
    fake.add_fault(Fault("delay", path_prefix=path, seconds=0.3, times=1))  # keep the first request in flight
    results: list[Any] = []
    async with Client(create_server(make_settings(backend_name))) as client:

        async def call() -> None:
            results.append(await client.call_tool("hex_package", {"name": "jason"}))

        async with anyio.create_task_group() as tg:
            for _ in range(30):
                tg.start_soon(call)
    assert fake.count(path) == 1
    assert len(results) == 30
    assert all(not r.is_error and r.structured_content["latest_stable_version"] == "1.4.4" for r in results)


async def test_single_flight_shares_a_failure_without_caching_it(
    fake: FakeUpstream, make_settings: Callable[..., Settings]
) -> None:
    fake.add_fault(Fault("status", path_prefix="/api/packages/jason", status=500, seconds=0.3, times=1))
    results: list[Any] = []
    async with Client(create_server(make_settings("hexpm"))) as client:

        async def call() -> None:
            results.append(await client.call_tool("hex_package", {"name": "jason"}))

        async with anyio.create_task_group() as tg:
            for _ in range(30):
                tg.start_soon(call)
        assert fake.count("/api/packages/jason") == 1
        assert all(r.is_error and "HTTP 500" in r.content[0].text for r in results)
        after = await client.call_tool("hex_package", {"name": "jason"})
    assert not after.is_error
    assert fake.count("/api/packages/jason") == 2
