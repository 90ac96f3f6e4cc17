"""The signed registry in the product: which tools read it, what they spend, and every way a file can fail.

The fake serves `/repo/packages/NAME` built from its own API fixtures and signed with its test key; `conftest`
points HEX_MCP_REPO_URL and the public key at it. `fake.count("/api")` counts API calls, `/repo` registry reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from mcp import Client

from fakehex.upstream import FakeUpstream, Fault
from hex_mcp.config import Secret, Settings, TTLs
from hex_mcp.server import create_server
from tests.helpers import split_source, text_of

pytestmark = pytest.mark.anyio
ERR = "Error executing tool hex_releases: "


def _client(settings: Settings) -> Client:
    return Client(create_server(settings))  # type: ignore[arg-type]


@pytest.fixture(params=["hexpm", "oanor"])
async def auto_client(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings]
) -> AsyncIterator[Client]:
    async with _client(make_settings(request.param, registry="auto")) as c:
        yield c


async def test_releases_come_from_the_registry_without_an_api_call(
    auto_client: Client, fake: FakeUpstream
) -> None:
    text = text_of(await auto_client.call_tool("hex_releases", {"name": "plug_crypto", "limit": 3}))
    _, source = split_source(text)
    assert source == "source: signed Hex registry · live"
    assert (fake.count("/api") + fake.count("/hex-api"), fake.count("/repo")) == (0, 1)
    assert "2.1.0" in text


async def test_retirements_reach_the_gateway_backend_through_the_registry(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    retired = {
        (name, r["version"])
        for name, pkg in fake.registry.packages.items()
        for r in pkg["releases"]
        if r["version"] in (pkg.get("retirements") or {})
    }
    name, version = sorted(retired)[0]
    async with _client(make_settings("oanor", registry="auto")) as c:
        text = text_of(await c.call_tool("hex_releases", {"name": name, "limit": 500}))
    assert f"{version}" in text and "RETIRED" in text
    assert fake.count("/hex-api") == 0


async def test_off_never_asks_the_registry(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    async with _client(make_settings("hexpm", registry="off")) as c:
        text = text_of(await c.call_tool("hex_releases", {"name": "plug_crypto", "limit": 3}))
    assert split_source(text)[1] == "source: hex.pm · live"
    assert (fake.count("/api"), fake.count("/repo")) == (1, 0)


async def test_release_takes_deps_from_the_registry_and_the_rest_from_the_api(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    async with _client(make_settings("hexpm", registry="off")) as c:
        api_text = text_of(await c.call_tool("hex_release", {"name": "phoenix", "version": "1.7.14"}))
    fake.reset()
    async with _client(make_settings("hexpm", registry="auto", cache_dir=fake_dir(make_settings))) as c:
        reg_text = text_of(await c.call_tool("hex_release", {"name": "phoenix", "version": "1.7.14"}))
    assert split_source(reg_text)[0] == split_source(api_text)[0]
    assert split_source(reg_text)[1] == "source: signed Hex registry · live"
    assert (fake.count("/api"), fake.count("/repo")) == (1, 1)


def fake_dir(make_settings: Callable[..., Settings]) -> object:
    """A second, empty cache directory beside the fixture's."""
    return make_settings().cache_dir.parent / "cache2"


async def test_outdated_spends_no_api_call(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    deps = "\n".join(f"{name} 0.0.1" for name in sorted(fake.registry.packages)[:10])
    async with _client(make_settings("hexpm", registry="auto")) as c:
        result = await c.call_tool("hex_outdated", {"deps": deps})
    assert not result.is_error
    assert fake.count("/api") == 0
    assert fake.count("/repo") == 10


async def test_diff_reads_the_registry_and_the_two_release_documents(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    # Resolution, dependencies and retirements from the signed file; the Elixir requirement from the API, as
    # hex_release does.
    async with _client(make_settings("hexpm", registry="auto")) as c:
        text = text_of(
            await c.call_tool(
                "hex_diff", {"name": "phoenix", "from_version": "1.6.16", "to_version": "1.7.14"}
            )
        )
    # phoenix's fixture releases ship no tarball: the changelog part asks the repository for one (a 403), then
    # the package document for its Changelog link.
    assert (fake.count("/api/packages/phoenix/releases/"), fake.count("/api"), fake.count("/repo")) == (
        2,
        3,
        2,
    )
    assert "elixir: ~> 1.9 → ~> 1.11" in text
    assert split_source(text)[1] == "source: signed Hex registry · live"


async def test_diff_stands_on_the_registry_when_the_api_fails(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    fake.add_fault(Fault("status", "/api/", status=503))
    async with _client(make_settings("hexpm", registry="auto")) as c:
        text = text_of(
            await c.call_tool(
                "hex_diff", {"name": "phoenix", "from_version": "1.6.16", "to_version": "1.7.14"}
            )
        )
    assert "elixir:" not in text
    assert "phoenix 1.6.16 → 1.7.14" in text
    assert split_source(text)[1].startswith(
        "source: signed Hex registry · live · note: the API release document could not be read"
    )


async def test_diff_reads_one_tarball_for_its_changelog(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    """The registry file gives the tarball's checksum; the package document is not needed when it verifies."""
    async with _client(make_settings("hexpm", registry="auto")) as c:
        text = text_of(
            await c.call_tool(
                "hex_diff", {"name": "quillmark", "from_version": "1.7.0", "to_version": "1.8.0"}
            )
        )
    assert (fake.count("/api"), fake.count("/repo/packages"), fake.count("/repo/tarballs")) == (2, 1, 1)
    assert "changelog (CHANGELOG.md of 1.8.0) · 3 entries after 1.7.0:" in text


async def test_diff_without_a_changelog_reads_the_links_once(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    """With no changelog to show, the package's links (one API read, then cached) say where to read it."""
    async with _client(make_settings("hexpm", registry="auto")) as c:
        for _ in range(2):
            text = text_of(
                await c.call_tool(
                    "hex_diff", {"name": "phoenix", "from_version": "1.7.0", "to_version": "1.7.14"}
                )
            )
    # Two release documents and the package document (links), each read once.
    assert (fake.count("/api"), fake.count("/repo/packages")) == (3, 1)
    # A missing tarball is a 404 like any other: remembered for HEX_MCP_NOT_FOUND_TTL, not asked again.
    assert fake.count("/repo/tarballs/phoenix-1.7.14.tar") == 1
    assert (
        "changelog: not shown — the Hex repository has no tarball for phoenix 1.7.14 · see Changelog: "
        "https://hexdocs.pm/phoenix/changelog.html"
    ) in text


async def test_a_missing_tarball_is_asked_again_when_404s_are_not_remembered(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    async with _client(make_settings("hexpm", registry="auto", not_found_ttl=0)) as c:
        for _ in range(2):
            await c.call_tool(
                "hex_diff", {"name": "phoenix", "from_version": "1.7.0", "to_version": "1.7.14"}
            )
    assert fake.count("/repo/tarballs/phoenix-1.7.14.tar") == 2


async def test_a_304_revalidates_and_meta_counts_it(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    settings = make_settings("hexpm", registry="auto", ttls=TTLs(registry=0))
    async with _client(settings) as c:
        await c.call_tool("hex_releases", {"name": "plug_crypto"})
        text = text_of(await c.call_tool("hex_releases", {"name": "plug_crypto"}))
        meta = text_of(await c.call_tool("hex_meta", {}))
    assert split_source(text)[1] == "source: signed Hex registry · live"
    second = [h for h in fake.hits if h.path.startswith("/repo")][1]
    assert second.headers.get("if-none-match", "").startswith('"')
    assert (
        f"registry: auto · {fake.repo_url} · this process: 1 fetched, 1 revalidated (304), 0 failed verification"
        in meta
    )
    assert fake.count("/api") == 0


async def test_no_api_key_is_sent_to_the_repository(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:

    async with _client(make_settings("hexpm", registry="auto", hex_api_key=Secret("0123456789abcdef"))) as c:
        await c.call_tool("hex_releases", {"name": "plug_crypto"})
    (hit,) = [h for h in fake.hits if h.path.startswith("/repo")]
    assert "authorization" not in hit.headers and "x-oanor-key" not in hit.headers


FAILURES = [
    ("registry_bad_signature", "registry file for plug_crypto failed verification (bad signature)"),
    ("registry_no_signature", "registry file for plug_crypto failed verification (missing signature)"),
    ("registry_wrong_repository", "registry file for plug_crypto failed verification (wrong repository)"),
    ("registry_wrong_name", "registry file for plug_crypto failed verification (wrong name)"),
    ("registry_truncated_gzip", "registry file for plug_crypto failed verification (truncated)"),
    ("registry_not_gzip", "registry file for plug_crypto failed verification (not gzip)"),
]


@pytest.mark.parametrize(("kind", "said"), FAILURES)
async def test_a_failing_file_falls_back_to_the_api_in_auto(
    make_settings: Callable[..., Settings], fake: FakeUpstream, kind: str, said: str
) -> None:
    fake.add_fault(Fault(kind, "/repo/packages/plug_crypto"))
    async with _client(make_settings("hexpm", registry="auto")) as c:
        first = text_of(await c.call_tool("hex_releases", {"name": "plug_crypto", "limit": 3}))
        await c.call_tool("hex_releases", {"name": "plug_crypto", "limit": 3})
        meta = text_of(await c.call_tool("hex_meta", {}))
    assert split_source(first)[1] == f"source: hex.pm · live · note: {said}; answered from the API"
    # Nothing from the failing file was cached: the second call asked the repository again.
    assert fake.count("/repo") == 2
    assert fake.count("/api") == 1  # the API answer itself was cached
    assert "this process: 2 fetched, 0 revalidated (304), 2 failed verification" in meta


@pytest.mark.parametrize(("kind", "said"), FAILURES)
async def test_a_failing_file_is_a_clear_error_in_only(
    make_settings: Callable[..., Settings], fake: FakeUpstream, kind: str, said: str
) -> None:
    fake.add_fault(Fault(kind, "/repo/packages/plug_crypto"))
    async with _client(make_settings("hexpm", registry="only")) as c:
        result = await c.call_tool("hex_releases", {"name": "plug_crypto"})
    assert result.is_error
    text = text_of(result)
    assert text.startswith(f"{ERR}{said}: ")
    assert text.endswith(
        "HEX_MCP_REGISTRY=only is set, so the API was not asked; set it to auto to let the API answer when the "
        "registry cannot."
    )
    assert fake.count("/api") == 0


async def test_an_oversized_file_is_not_read(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    fake.add_fault(Fault("oversized", "/repo/packages/plug_crypto", size=5 * 1024 * 1024))
    async with _client(make_settings("hexpm", registry="auto")) as c:
        text = text_of(await c.call_tool("hex_releases", {"name": "plug_crypto", "limit": 3}))
    assert split_source(text)[1] == (
        f"source: hex.pm · live · note: registry file for plug_crypto could not be fetched (The Hex repository "
        f"({fake.repo_url}) sent a 5,242,880-byte answer, above the 4,194,304-byte cap; it was not read); "
        "answered from the API"
    )


async def test_oversized_in_only_mode(make_settings: Callable[..., Settings], fake: FakeUpstream) -> None:
    fake.add_fault(Fault("oversized", "/repo/packages/plug_crypto", size=5 * 1024 * 1024))
    async with _client(make_settings("hexpm", registry="only")) as c:
        result = await c.call_tool("hex_releases", {"name": "plug_crypto"})
    assert result.is_error
    assert text_of(result).startswith(
        f"{ERR}The Hex repository ({fake.repo_url}) sent a 5,242,880-byte answer, above the 4,194,304-byte cap"
    )
    assert fake.count("/api") == 0


async def test_a_missing_package_in_only_mode(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    async with _client(make_settings("hexpm", registry="only")) as c:
        result = await c.call_tool("hex_releases", {"name": "no_such_pkg"})
    assert result.is_error
    assert text_of(result).startswith(f"{ERR}No package 'no_such_pkg' on Hex.")
    # its file, then the name list for a "did you mean" (nothing close here)
    assert (fake.count("/api"), fake.count("/repo/packages"), fake.count("/repo/names")) == (0, 1, 1)


async def test_a_missing_package_in_auto_asks_the_api(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    async with _client(make_settings("hexpm", registry="auto")) as c:
        result = await c.call_tool("hex_releases", {"name": "no_such_pkg"})
    assert result.is_error
    assert text_of(result).startswith(f"{ERR}No package 'no_such_pkg' on Hex.")
    assert (fake.count("/api"), fake.count("/repo/packages"), fake.count("/repo/names")) == (1, 1, 1)
