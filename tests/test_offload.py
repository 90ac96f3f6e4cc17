"""Large pastes are parsed in a worker process within a time bound, so parsing never stalls other calls."""

from __future__ import annotations

import time
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import httpx2
import pytest

from fakehex.upstream import FakeUpstream
from hex_mcp.deps_input import DepsInputError, parse_deps
from hex_mcp.errors import InvalidInput
from hex_mcp.offload import INLINE_MAX_CHARS, parse_deps_off_loop
from tests.test_e2e import http_server
from tests.test_http_guard import Session, call, session

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

# The slowest shape found for the parser: one long mix.exs deps list of options-heavy tuples.
WORST = (
    "defp deps do\n[" + ",".join('{:a, "~> 1.0", only: [:dev, :test], runtime: false}' for _ in range(4000))
)[:199_000]


async def test_a_large_paste_parses_the_same_in_a_worker() -> None:
    text = "\n".join(f"pkg_{i} 1.0.{i}" for i in range(3000))
    assert len(text) > INLINE_MAX_CHARS
    assert await parse_deps_off_loop(text) == parse_deps(text)


async def test_parse_errors_come_back_from_the_worker() -> None:
    text = "!!!\n" * (INLINE_MAX_CHARS // 4 + 10)
    with pytest.raises(DepsInputError) as inline:
        parse_deps(text)
    with pytest.raises(DepsInputError) as offloaded:
        await parse_deps_off_loop(text)
    assert str(offloaded.value) == str(inline.value)


async def test_a_parse_past_its_bound_is_given_up() -> None:
    started = time.monotonic()
    with pytest.raises(InvalidInput, match=r"^deps took over 0.05 s to read and was given up"):
        await parse_deps_off_loop(WORST, seconds=0.05)
    assert time.monotonic() - started < 2


async def test_four_worst_case_parses_leave_a_warm_call_and_healthz_under_half_a_second(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    # The installed server in its own process: a stalled event loop there shows in the times measured here.
    with http_server(fake, "streamable-http", tmp_path) as base:
        async with session(base, "streamable-http") as warm:
            await warm.ask(call(1))  # jason is cached from here on
            timings: dict[str, float] = {}
            outdated = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "hex_outdated", "arguments": {"deps": WORST}},
            }
            async with AsyncExitStack() as stack:
                parsers = [
                    await stack.enter_async_context(session(base, "streamable-http")) for _ in range(4)
                ]

                async def parse(s: Session) -> None:
                    answer = await s.ask(outdated)
                    assert answer["result"]["content"][0]["text"].startswith("mix.exs · 1 deps checked")

                async with anyio.create_task_group() as tg:
                    for s in parsers:
                        tg.start_soon(parse, s)
                    await anyio.sleep(0.3)  # the four pastes are sent and being read
                    async with httpx2.AsyncClient(timeout=5) as http:
                        started = time.monotonic()
                        assert (await http.get(f"{base}/healthz")).status_code == 200
                        timings["healthz"] = time.monotonic() - started
                    started = time.monotonic()
                    answer = await warm.ask(call(2))
                    timings["warm call"] = time.monotonic() - started
                    assert answer["result"]["content"][0]["text"].startswith("jason — ")
    assert timings["healthz"] < 0.5 and timings["warm call"] < 0.5, timings
