"""The registry's signed name list (`/names`): name completions and "did you mean" for unknown names."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from mcp import Client
from mcp.types import ResourceTemplateReference

from fakehex.registry_files import new_test_key
from fakehex.upstream import FakeUpstream
from hex_mcp.config import Settings
from hex_mcp.server import create_server
from tests.helpers import text_of

pytestmark = pytest.mark.anyio

PACKAGE_TEMPLATE = ResourceTemplateReference(type="ref/resource", uri="hex://package/{name}")
PHOENIX_FAMILY = [
    "phoenix",
    "phoenix_ecto",
    "phoenix_html",
    "phoenix_live_view",
    "phoenix_pubsub",
    "phoenix_template",
    "phoenix_view",
]


def _client(settings: Settings) -> Client:
    return Client(create_server(settings))  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["hexpm", "oanor"])
async def test_completion_reads_the_name_list_once_and_spends_no_api_call(
    make_settings: Callable[..., Settings], fake: FakeUpstream, backend: str
) -> None:
    async with _client(make_settings(backend, registry="auto")) as client:
        first = (await client.complete(PACKAGE_TEMPLATE, {"name": "name", "value": "pho"})).completion
        second = (await client.complete(PACKAGE_TEMPLATE, {"name": "name", "value": "plug_c"})).completion
    assert (first.values, first.has_more) == (PHOENIX_FAMILY, False)
    assert second.values == ["plug_cowboy", "plug_crypto"]
    assert (fake.count("/repo/names"), fake.count("/api"), fake.count("/hex-api")) == (1, 0, 0)


async def test_completion_searches_the_api_when_the_registry_is_off(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    async with _client(make_settings("hexpm", registry="off")) as client:
        values = (await client.complete(PACKAGE_TEMPLATE, {"name": "name", "value": "pho"})).completion.values
    assert sorted(values) == PHOENIX_FAMILY  # in the search's order
    assert (fake.count("/repo"), fake.count("/api/packages")) == (0, 1)


@pytest.mark.parametrize(
    ("tool", "arguments", "said"),
    [
        ("hex_package", {"name": "phoneix"}, "No package 'phoneix' on Hex. Did you mean 'phoenix'?"),
        ("hex_releases", {"name": "jasn"}, "No package 'jasn' on Hex. Did you mean 'jason'?"),
        ("hex_release", {"name": "plug_cowbyo", "version": "2.0.0"}, "Did you mean 'plug_cowboy'?"),
        ("hex_diff", {"name": "ectoo", "from_version": "3.0.0"}, "Did you mean 'ecto'?"),
    ],
)
async def test_an_unknown_name_gets_the_closest_existing_names(
    make_settings: Callable[..., Settings],
    fake: FakeUpstream,
    tool: str,
    arguments: dict[str, str],
    said: str,
) -> None:
    async with _client(make_settings("hexpm", registry="auto")) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error
    assert said in text_of(result)
    assert "try hex_search with q=" in text_of(result)
    assert fake.count("/repo/names") == 1


async def test_a_name_far_from_every_other_gets_no_guess(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    async with _client(make_settings("hexpm", registry="auto")) as client:
        result = await client.call_tool("hex_package", {"name": "zzqqxx"})
    assert result.is_error
    assert "Did you mean" not in text_of(result)
    assert "No package 'zzqqxx' on Hex. Package names are exact and lower-case" in text_of(result)


async def test_a_name_list_that_fails_verification_gives_no_guess_and_no_failure(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    # Signed with a key the client does not trust: every registry file is refused, the API answers.
    other = (
        new_test_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    async with _client(make_settings("hexpm", registry="auto", repo_public_key=other)) as client:
        result = await client.call_tool("hex_package", {"name": "Phoneix"})
        meta = text_of(await client.call_tool("hex_meta", {}))
    assert result.is_error
    assert "No package 'Phoneix' on Hex. Did you mean 'phoneix'?" in text_of(
        result
    )  # the lower-case hint only
    assert fake.count("/repo/names") == 1
    assert ", 1 failed verification" in meta  # the name list; the package file was never there to fetch


async def test_the_registry_off_never_reads_the_name_list(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    async with _client(make_settings("hexpm", registry="off")) as client:
        result = await client.call_tool("hex_package", {"name": "phoneix"})
    assert "Did you mean" not in text_of(result)
    assert fake.count("/repo") == 0
