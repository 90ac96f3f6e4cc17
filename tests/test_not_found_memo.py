"""Remembered 404s and the per-call lookup bound: repeated unknown names cost no upstream calls."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fakehex.upstream import FakeUpstream, Fault
from hex_mcp import render
from hex_mcp.config import ConfigError, Settings
from hex_mcp.errors import PackageNotFound, ReleaseNotFound, UpstreamUnavailable
from hex_mcp.service import HexService

pytestmark = pytest.mark.anyio

UNKNOWN = "\n".join(f"ghost_{i} 1.0.0" for i in range(12))


async def test_repeated_unknown_names_cost_no_upstream_calls(settings: Settings, fake: FakeUpstream) -> None:
    service = HexService(settings)
    try:
        first = await service.outdated(UNKNOWN)
        assert fake.count() == 12
        assert first.counts == {"not_found": 12}
        second = await service.outdated(UNKNOWN)
        assert fake.count() == 12  # every 404 was remembered
        assert second.counts == {"not_found": 12}
    finally:
        await service.aclose()


async def test_a_remembered_404_expires(make_settings: Callable[..., Settings], fake: FakeUpstream) -> None:
    service = HexService(make_settings(not_found_ttl=0))
    try:
        for _ in range(2):
            with pytest.raises(PackageNotFound):
                await service.package("ghost_pkg")
        assert fake.count() == 2  # a TTL of 0 remembers nothing
    finally:
        await service.aclose()


async def test_other_errors_are_not_remembered(settings: Settings, fake: FakeUpstream) -> None:
    fake.add_fault(Fault("status", "/api/packages/phoenix", times=1, status=503))
    service = HexService(settings)
    try:
        with pytest.raises(UpstreamUnavailable):
            await service.package("phoenix")
        view = await service.package("phoenix")  # asked again, and answered
        assert view.name == "phoenix"
        assert fake.count() == 2
    finally:
        await service.aclose()


async def test_release_404_is_remembered(settings: Settings, fake: FakeUpstream) -> None:
    service = HexService(settings)
    try:
        await service.releases("phoenix")  # the listing the not-found answer suggests versions from
        before = fake.count()
        for _ in range(3):
            with pytest.raises(ReleaseNotFound):
                await service.release("phoenix", "9.9.9")
        assert fake.count() == before + 1
    finally:
        await service.aclose()


async def test_no_cache_remembers_no_404(make_settings: Callable[..., Settings], fake: FakeUpstream) -> None:
    service = HexService(make_settings(cache_enabled=False))
    try:
        for _ in range(2):
            with pytest.raises(PackageNotFound):
                await service.package("ghost_pkg")
        assert fake.count() == 2
    finally:
        await service.aclose()


async def test_lookup_bound_trips_and_says_so(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    service = HexService(make_settings(max_lookups=5))
    try:
        view = await service.outdated(UNKNOWN)
        assert fake.count() == 5
        assert view.counts == {"not_found": 5, "error": 7}
        text = render.outdated(view)
        assert (
            "not checked: this call reached its bound of 5 upstream lookups (HEX_MCP_MAX_LOOKUPS); call again to "
            "check the rest, answers fetched so far are cached" in text
        )
        # The next call spends its allowance on the rest: the remembered 404s are free.
        again = await service.outdated(UNKNOWN)
        assert fake.count() == 10
        assert again.counts == {"not_found": 10, "error": 2}
    finally:
        await service.aclose()


def test_settings_from_env() -> None:
    settings = Settings.from_env({"HEX_MCP_NOT_FOUND_TTL": "0", "HEX_MCP_MAX_LOOKUPS": "7"})
    assert (settings.not_found_ttl, settings.max_lookups) == (0, 7)
    assert Settings.from_env({}).not_found_ttl == 600
    with pytest.raises(ConfigError, match="HEX_MCP_MAX_LOOKUPS"):
        Settings.from_env({"HEX_MCP_MAX_LOOKUPS": "0"})
