"""One deadline per question, counted from the call: sequential upstream calls and queueing included."""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import pytest

from fakehex.upstream import FakeUpstream, Fault
from hex_mcp.config import Settings
from hex_mcp.deadline import bounded
from hex_mcp.errors import UpstreamUnavailable
from hex_mcp.service import HexService

pytestmark = pytest.mark.anyio


async def test_two_sequential_upstream_calls_share_one_deadline(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    # A missing release costs two reads (the release, then the listing for the nearest versions); each is
    # within the timeout on its own, together they are not.
    fake.add_fault(Fault("delay", "/api/packages/phoenix", times=2, seconds=0.7))
    service = HexService(make_settings(timeout=1.0))
    try:
        started = time.monotonic()
        with pytest.raises(UpstreamUnavailable, match=r"did not answer within 1 s"):
            await service.release("phoenix", "9.9.9")
        assert time.monotonic() - started < 1.4
    finally:
        await service.aclose()


async def test_outdated_answers_what_it_checked_by_the_deadline(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    fake.add_fault(Fault("delay", "/api/packages/", seconds=0.9))
    names = "\n".join(f"ghost_{i} 1.0.0" for i in range(12))
    service = HexService(make_settings(timeout=2.0))
    try:
        started = time.monotonic()
        view = await service.outdated(
            names
        )  # 8 lookups at a time; the second wave would end after the deadline
        assert time.monotonic() - started < 2.0
    finally:
        await service.aclose()
    # The first wave answered; what was still waiting or in flight at the deadline says so.
    assert view.counts["not_found"] >= 1 and view.counts["error"] >= 1
    assert view.counts["not_found"] + view.counts["error"] == 12
    notes = {row.note for row in view.rows if row.status == "error"}
    assert notes == {
        "not checked within the call's 2 s deadline (HEX_MCP_TIMEOUT); call again, answers fetched so far are cached"
    }


class _Waits:
    """A question that waits on something no upstream call bounds (a lock, another caller's flight)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @bounded
    async def ask(self) -> None:
        await anyio.sleep(30)


async def test_a_wait_no_upstream_call_bounds_still_ends_at_the_deadline(
    make_settings: Callable[..., Settings],
) -> None:
    started = time.monotonic()
    with pytest.raises(
        UpstreamUnavailable, match=r"^The answer did not come within 0.5 s \(HEX_MCP_TIMEOUT; [0-9.]+ s spent"
    ):
        await _Waits(make_settings(timeout=0.5)).ask()
    assert time.monotonic() - started < 1.5
