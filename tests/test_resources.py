"""Resource templates and argument completion: what hosts such as Claude Desktop use besides tools."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mcp import Client, MCPError
from mcp.types import INVALID_PARAMS, PromptReference, ResourceTemplateReference

from fakehex.upstream import FakeUpstream, Fault
from hex_mcp.backends import backend_for
from hex_mcp.config import Settings
from hex_mcp.models import BackendName
from hex_mcp.server import create_server

pytestmark = pytest.mark.anyio

PACKAGE_TEMPLATE = ResourceTemplateReference(type="ref/resource", uri="hex://package/{name}")
RELEASE_TEMPLATE = ResourceTemplateReference(type="ref/resource", uri="hex://package/{name}/{version}")


def without_source(text: str) -> str:
    """Drop the last line: the tool call was live, the resource read that follows it comes from the cache."""
    head, _, last = text.rpartition("\n")
    assert last.startswith("source: ")
    return head


async def read(client: Client, uri: str) -> str:
    result = await client.read_resource(uri)
    (content,) = result.contents
    assert content.mime_type == "text/plain"
    text: str = content.text  # type: ignore[union-attr]
    return text


async def tool_text(client: Client, name: str, args: dict[str, str]) -> str:
    result = await client.call_tool(name, args)
    assert result.is_error is False
    text: str = result.content[0].text  # type: ignore[union-attr]
    return text


async def test_tool_count_and_templates(client: Client) -> None:
    tools = sorted(t.name for t in (await client.list_tools()).tools)
    assert tools == [
        "hex_diff",
        "hex_meta",
        "hex_outdated",
        "hex_package",
        "hex_plan",
        "hex_release",
        "hex_releases",
        "hex_search",
    ]
    templates = (await client.list_resource_templates()).resource_templates
    assert [(t.uri_template, t.mime_type) for t in templates] == [
        ("hex://package/{name}", "text/plain"),
        ("hex://package/{name}/{version}", "text/plain"),
    ]


async def test_package_resource_is_the_tool_text(backend_client: Client) -> None:
    tool = await tool_text(backend_client, "hex_package", {"name": "jason"})
    resource = await read(backend_client, "hex://package/jason")
    assert without_source(resource) == without_source(tool)
    assert resource.startswith("jason — A blazing fast JSON parser and generator in pure Elixir.\n")


@pytest.mark.parametrize(
    ("version", "uri_version"),
    [("1.4.4", "1.4.4"), ("latest", "latest"), ("~> 1.3.0", "~%3E%201.3.0")],
)
async def test_release_resource_is_the_tool_text(
    backend_client: Client, version: str, uri_version: str
) -> None:
    tool = await tool_text(backend_client, "hex_release", {"name": "jason", "version": version})
    resource = await read(backend_client, f"hex://package/jason/{uri_version}")
    assert without_source(resource) == without_source(tool)


async def test_requirement_in_the_uri_is_resolved(client: Client) -> None:
    text = await read(client, "hex://package/phoenix/~%3E%201.7.0")
    assert text.splitlines()[:2] == ["phoenix 1.7.21 — published 2025-03-28", 'resolved "~> 1.7.0" to 1.7.21']


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("hex://package/no_such_pkg", "No package 'no_such_pkg' on Hex."),
        ("hex://package/jason%20x", "is not a Hex package name"),
        ("hex://package/Jason", "No package 'Jason' on Hex. Did you mean 'jason'?"),
        ("hex://package/jason/9.9.9", "jason has no release 9.9.9."),
        ("hex://package/jason/v1", "version='v1' is not a version, 'latest', or a requirement."),
    ],
)
async def test_unknown_or_bad_uris_are_invalid_params(client: Client, uri: str, message: str) -> None:
    with pytest.raises(MCPError) as caught:
        await client.read_resource(uri)
    assert caught.value.code == INVALID_PARAMS
    assert message in str(caught.value)


async def test_upstream_failure_is_an_internal_error_with_the_reason(
    client: Client, fake: FakeUpstream
) -> None:
    fake.add_fault(Fault("status", "/api/packages/jason", status=503))
    with pytest.raises(MCPError) as caught:
        await client.read_resource("hex://package/jason")
    assert caught.value.code != INVALID_PARAMS
    assert "hex.pm failed on its side (HTTP 503)" in str(caught.value)


# -- completions ---------------------------------------------------------------------------------------------


async def test_name_completion_searches_hex_by_prefix(
    backend_client: Client, fake: FakeUpstream, backend: str
) -> None:
    completion = (
        await backend_client.complete(PACKAGE_TEMPLATE, {"name": "name", "value": "plug"})
    ).completion
    assert sorted(completion.values) == ["plug", "plug_cowboy", "plug_crypto"]
    assert completion.has_more is False
    search = "/api/packages" if backend == "hexpm" else "/hex-api/v1/search"
    assert fake.count() == fake.count(search) == 1
    # the same prefix again is a cached search: no second upstream call
    again = (await backend_client.complete(PACKAGE_TEMPLATE, {"name": "name", "value": "plug"})).completion
    assert again.values == completion.values
    assert fake.count() == 1


async def test_cached_names_come_first(client: Client) -> None:
    await tool_text(client, "hex_package", {"name": "phoenix_view"})
    values = (await client.complete(PACKAGE_TEMPLATE, {"name": "name", "value": "phoenix"})).completion.values
    assert values[0] == "phoenix_view"
    assert set(values) == {
        "phoenix",
        "phoenix_ecto",
        "phoenix_html",
        "phoenix_live_view",
        "phoenix_pubsub",
        "phoenix_template",
        "phoenix_view",
    }


async def test_empty_prefix_lists_only_cached_names(client: Client, fake: FakeUpstream) -> None:
    await tool_text(client, "hex_release", {"name": "jason", "version": "1.4.4"})
    await tool_text(client, "hex_releases", {"name": "tiny_slug"})
    hits = fake.count()
    completion = (await client.complete(PACKAGE_TEMPLATE, {"name": "name", "value": ""})).completion
    assert completion.values == ["jason", "tiny_slug"]
    assert fake.count() == hits


async def test_offline_completion_uses_the_cache_only(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    async with Client(create_server(make_settings("hexpm", offline=True))) as client:
        completion = (await client.complete(PACKAGE_TEMPLATE, {"name": "name", "value": "ph"})).completion
    assert completion.values == []
    assert fake.count() == 0


async def test_odd_prefixes_and_other_references_complete_to_nothing(
    client: Client, fake: FakeUpstream
) -> None:
    for value in ("1x", "-", "ph oenix"):
        completion = (await client.complete(PACKAGE_TEMPLATE, {"name": "name", "value": value})).completion
        assert completion.values == []
    other = ResourceTemplateReference(type="ref/resource", uri="file:///{name}")
    assert (await client.complete(other, {"name": "name", "value": "ph"})).completion.values == []
    prompt = PromptReference(type="ref/prompt", name="nothing")
    assert (await client.complete(prompt, {"name": "name", "value": "ph"})).completion.values == []
    assert fake.count() == 0


async def test_upper_case_prefix_is_lowered(client: Client) -> None:
    values = (await client.complete(PACKAGE_TEMPLATE, {"name": "name", "value": "Tiny"})).completion.values
    assert values == ["tiny_slug"]


async def test_version_completion_uses_the_name_argument(backend_client: Client) -> None:
    result = await backend_client.complete(
        RELEASE_TEMPLATE, {"name": "version", "value": "0.2"}, context_arguments={"name": "tiny_slug"}
    )
    assert result.completion.values == ["0.2.1", "0.2.0"]
    result = await backend_client.complete(
        RELEASE_TEMPLATE, {"name": "version", "value": "l"}, context_arguments={"name": "tiny_slug"}
    )
    assert result.completion.values == ["latest"]
    no_name = await backend_client.complete(RELEASE_TEMPLATE, {"name": "version", "value": ""})
    assert no_name.completion.values == []
    unknown = await backend_client.complete(
        RELEASE_TEMPLATE, {"name": "version", "value": ""}, context_arguments={"name": "no_such_pkg"}
    )
    assert unknown.completion.values == []


@pytest.mark.parametrize(
    ("backend", "request_key", "name"),
    [
        ("hexpm", "/packages/phoenix?", "phoenix"),
        ("hexpm", "/packages/phoenix/releases/1.7.14?", "phoenix"),
        ("hexpm", "/packages?page=1&per_page=20&search=jason&sort=recent_downloads", None),
        ("oanor", "/v1/package?name=jason", "jason"),
        ("oanor", "/v1/releases?limit=500&name=plug", "plug"),
        ("oanor", "/v1/release?name=plug&version=1.18.1", "plug"),
        ("oanor", "/v1/search?limit=20&page=1&q=json", None),
        ("oanor", "/v1/meta?", None),
        ("hexpm", "/packages/..%2Fx?", None),
        ("hexpm", "/v1/package?name=jason", None),
        ("oanor", "/packages/phoenix?", None),
    ],
)
def test_package_name_from_cached_request(backend: BackendName, request_key: str, name: str | None) -> None:
    assert backend_for(backend).package_in_request(request_key) == name
