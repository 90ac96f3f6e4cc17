"""The tools through the MCP protocol (in memory, both client eras) against the fake upstream, both backends."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from mcp import Client, MCPError

from fakehex.upstream import DEFAULT_FIXTURES, FakeUpstream, Fault
from hex_mcp.config import Settings
from hex_mcp.server import INSTRUCTIONS, create_server
from tests.helpers import text_of, tokens

pytestmark = pytest.mark.anyio

CORE_TOOLS = {"hex_package", "hex_releases", "hex_release", "hex_search", "hex_meta"}


async def test_tool_list_schemas_and_annotations(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) >= CORE_TOOLS
    assert len(tools) <= 8
    for tool in tools.values():
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert tool.annotations.destructive_hint is False
        assert tool.output_schema is not None
        assert tool.description and "\n" not in tool.description
        # No titles: pydantic's "Name" for `name` only repeats the key, and every turn pays for it.
        assert "title" not in tool.input_schema
        for prop in tool.input_schema.get("properties", {}).values():
            assert "title" not in prop and "anyOf" not in prop and prop["type"] != "null"
    name_schema = tools["hex_package"].input_schema["properties"]["name"]
    assert name_schema == {
        "type": "string",
        "minLength": 2,
        "maxLength": 100,
        "pattern": "^[A-Za-z][A-Za-z0-9_]*$",
        "description": "e.g. 'plug_cowboy'",
    }
    releases = tools["hex_releases"].input_schema["properties"]
    assert (releases["limit"]["minimum"], releases["limit"]["maximum"], releases["limit"]["default"]) == (
        1,
        500,
        50,
    )
    search = tools["hex_search"].input_schema["properties"]
    assert (search["limit"]["minimum"], search["limit"]["maximum"], search["limit"]["default"]) == (
        1,
        100,
        20,
    )
    assert (
        "depends:NAME" in search["q"]["description"] and "build_tool:mix|rebar3" in search["q"]["description"]
    )
    assert tools["hex_search"].input_schema["required"] == ["q"]
    # A version's rules are Elixir's, checked by the service with a message that says what is wrong; a regex in
    # the schema would cost 80 tokens per parameter and reject without a reason.
    assert tools["hex_release"].input_schema["properties"]["version"] == {"type": "string", "maxLength": 100}


async def test_tool_definitions_and_instructions_fit_the_context_budget(client: Client) -> None:
    tools = (await client.list_tools()).tools
    spent = sum(
        tokens(json.dumps({"name": t.name, "description": t.description, "inputSchema": t.input_schema}))
        for t in tools
    )
    assert spent + tokens(INSTRUCTIONS) <= 1_500, spent


async def test_every_output_schema_fits_800_tokens(client: Client) -> None:
    for tool in (await client.list_tools()).tools:
        sent = json.dumps(tool.output_schema, separators=(",", ":"), ensure_ascii=False)  # as the wire has it
        assert tokens(sent) <= 800, (tool.name, tokens(sent))


async def test_output_schemas_carry_no_titles_or_null_defaults_and_stay_portable(client: Client) -> None:
    for tool in (await client.list_tools()).tools:
        text = json.dumps(tool.output_schema)
        assert '"title"' not in text and '"default": null' not in text, tool.name
        # Nullable stays anyOf branches: a type array is what the Inspector's --strict check flags.
        assert '"type": [' not in text, tool.name


async def test_server_sends_instructions(settings: Settings) -> None:
    async with Client(create_server(settings), mode="legacy") as c:  # type: ignore[arg-type]
        assert c.instructions == INSTRUCTIONS
        assert c.server_info is not None and c.server_info.name == "hex-mcp"
    # The facts every tool shares are said once, here, and not in each tool's description.
    for fact in ("lower-case", '"~> 1.7"', '"latest"', "pre-releases never count"):
        assert fact in INSTRUCTIONS


async def test_package(backend_client: Client, backend: str) -> None:
    result = await backend_client.call_tool("hex_package", {"name": "phoenix"})
    assert not result.is_error
    text = text_of(result)
    assert text.splitlines()[0] == "phoenix — Peace of mind from prototype to production"
    assert text.splitlines()[1] == (
        "latest stable: 1.8.7 (2026-05-06) · newer pre-release: 1.9.0-rc.0 (not stable)"
    )
    assert "downloads: 150.1M all · 3.2M last 90d · 279.1K week · 17.2K day" in text
    assert "owners: chrismccord, josevalim, gazler, jeregrine, steffend" in text
    assert '+166 more — call hex_releases with name="phoenix"' in text
    data = result.structured_content
    assert data is not None
    assert data["latest_stable_version"] == "1.8.7" and data["latest_prerelease"] == "1.9.0-rc.0"
    assert data["freshness"]["source"] == backend and data["freshness"]["from_cache"] is False
    if backend == "hexpm":
        assert 'mix.exs {:phoenix, "~> 1.8"}' in text
        assert "advisories: none" in text
    else:
        assert "advisories: not available via the gateway" in text
        assert data["advisories"] is None


async def test_package_with_retirement_prerelease_and_missing_windows(
    backend_client: Client, backend: str
) -> None:
    text = text_of(await backend_client.call_tool("hex_package", {"name": "tiny_slug"}))
    assert "latest stable: 0.2.1 (2023-09-05) · newer pre-release: 0.3.0-rc.1 (not stable)" in text
    assert "downloads: 412 all · 57 last 90d\n" in text
    if backend == "hexpm":
        assert "0.2.0 (2023-06-11, RETIRED (release invalid: unicode handling bug, use 0.2.1))" in text
        assert "releases: 4, 1 retired" in text


async def test_package_advisory(client: Client) -> None:
    text = text_of(await client.call_tool("hex_package", {"name": "hackney"}))
    assert "advisories (1):\n- EEF-CVE-2025-1211 (CVE-2025-1211) high — " in text
    assert "· affects < 1.24.0" in text


async def test_releases(backend_client: Client) -> None:
    result = await backend_client.call_tool("hex_releases", {"name": "ecto", "limit": 3})
    text = text_of(result)
    assert text.splitlines()[:3] == [
        f"ecto: {result.structured_content['total']} releases · latest stable: 3.14.0",  # type: ignore[index]
        "newest 3, by year:",
        "2026: 3.14.0 May 19, 3.13.6 May 5",
    ]
    assert text.splitlines()[3] == "2025: 3.13.5 Nov 9"
    assert 'more — call hex_releases with name="ecto", limit=' in text
    assert result.structured_content is not None and result.structured_content["shown"] == 3


async def test_releases_with_requirement(backend_client: Client, backend: str) -> None:
    result = await backend_client.call_tool(
        "hex_releases", {"name": "phoenix", "requirement": "~> 1.7.0", "limit": 2}
    )
    text = text_of(result)
    # The gateway does not expose retirements, so it cannot promise "non-retired".
    pick = "highest non-retired match" if backend == "hexpm" else "highest match"
    assert f"22 match ~> 1.7.0 · {pick}: 1.7.21" in text
    assert result.structured_content is not None
    assert result.structured_content["highest_match"] == "1.7.21"
    assert [r["version"] for r in result.structured_content["releases"]] == ["1.7.21", "1.7.20"]


async def test_release_exact(backend_client: Client, backend: str) -> None:
    text = text_of(await backend_client.call_tool("hex_release", {"name": "phoenix", "version": "1.7.14"}))
    assert text.startswith("phoenix 1.7.14 — published 2024-06-18\n")
    assert "elixir: ~> 1.11 · build: mix" in text
    assert (
        "deps (10, 3 optional): castore >= 0.0.0 · jason ~> 1.0 optional · phoenix_pubsub ~> 2.1 · "
        "phoenix_template ~> 1.0 · phoenix_view ~> 2.0 optional · plug ~> 1.14 · plug_cowboy ~> 2.7 optional · "
        "plug_crypto ~> 1.2 or ~> 2.0 · telemetry ~> 0.4 or ~> 1.0 · websock_adapter ~> 0.5.3"
    ) in text
    assert "checksum (sha256): c7859bc56cc5dfef19ecfc240775dae358cbaa530231118a9e014df392ace61a" in text
    if backend == "oanor":
        assert "retirement: not available via the gateway" in text


@pytest.mark.parametrize("version", [None, "latest"])
async def test_release_latest_is_latest_stable(backend_client: Client, version: str | None) -> None:
    args: dict[str, Any] = {"name": "phoenix"}
    if version is not None:
        args["version"] = version
    result = await backend_client.call_tool("hex_release", args)
    text = text_of(result)
    assert text.startswith("phoenix 1.8.7 — published 2026-05-06\n")
    assert 'resolved "latest" to 1.8.7' in text


async def test_release_requirement_resolves(backend_client: Client) -> None:
    text = text_of(await backend_client.call_tool("hex_release", {"name": "phoenix", "version": "~> 1.7.0"}))
    assert text.startswith("phoenix 1.7.21 ")
    assert 'resolved "~> 1.7.0" to 1.7.21' in text


async def test_release_retired_and_advisory(client: Client) -> None:
    retired = text_of(await client.call_tool("hex_release", {"name": "tiny_slug", "version": "0.2.0"}))
    assert "RETIRED (release invalid: unicode handling bug, use 0.2.1)" in retired
    vulnerable = text_of(await client.call_tool("hex_release", {"name": "hackney", "version": "1.23.0"}))
    assert "advisories (1):\n- EEF-CVE-2025-1211" in vulnerable
    assert "build: rebar3" in vulnerable and "elixir: any (not declared)" in vulnerable


async def test_release_prerelease_without_downloads(client: Client) -> None:
    text = text_of(await client.call_tool("hex_release", {"name": "tiny_slug", "version": "0.3.0-rc.1"}))
    assert text.startswith("tiny_slug 0.3.0-rc.1 — published 2024-11-18 · pre-release\n")
    assert "downloads: 0" in text


async def test_search(backend_client: Client, backend: str) -> None:
    result = await backend_client.call_tool("hex_search", {"q": "json", "limit": 20})
    text = text_of(result)
    assert text.startswith('search "json" · page 1 · ')
    assert "jason 1.4.4 — 212.8M dl" in text
    if backend == "hexpm":
        assert "sorted by downloads in the last 90 days" in text.splitlines()[0]
        assert text.splitlines()[1].startswith("jason 1.4.4 — 212.8M dl (14.2M 90d)")
    else:
        assert "gateway order (unsorted)" in text.splitlines()[0]


async def test_search_reverse_dependencies(client: Client, fake: FakeUpstream) -> None:
    text = text_of(await client.call_tool("hex_search", {"q": "depends:jason", "limit": 100}))
    names = {line.split(" ", 1)[0] for line in text.splitlines()[1:-1]}
    assert {"phoenix", "postgrex"} <= names
    assert fake.hits[-1].query["search"] == "depends:jason"


async def test_search_sort_on_gateway_is_explained(make_settings: Callable[..., Settings]) -> None:
    async with Client(create_server(make_settings("oanor"))) as c:  # type: ignore[arg-type]
        text = text_of(await c.call_tool("hex_search", {"q": "json", "sort": "total_downloads"}))
    assert "note: the gateway cannot sort; sort=total_downloads was ignored" in text


async def test_meta(backend_client: Client, backend: str) -> None:
    await backend_client.call_tool("hex_package", {"name": "jason"})
    result = await backend_client.call_tool("hex_meta", {})
    text = text_of(result)
    assert result.structured_content is not None
    assert result.structured_content["backend"] == backend
    assert "upstream calls this month: " in text and "TTLs (s): package 900" in text
    if backend == "hexpm":
        assert "rate limit: " in text and "/100 left" in text
    else:
        assert "gateway endpoints: /v1/package" in text


BUDGETS = [
    ("hex_package", {"name": "phoenix"}, 300),
    ("hex_package", {"name": "ecto"}, 300),
    ("hex_package", {"name": "jason"}, 300),
    ("hex_package", {"name": "hackney"}, 300),
    ("hex_releases", {"name": "phoenix", "limit": 50}, 600),
    ("hex_releases", {"name": "ecto", "limit": 50}, 600),
    ("hex_releases", {"name": "plug", "limit": 50}, 600),
    ("hex_release", {"name": "phoenix", "version": "1.7.14"}, 350),
    ("hex_release", {"name": "hackney", "version": "1.23.0"}, 350),
    ("hex_release", {"name": "phoenix_live_view"}, 350),
    ("hex_search", {"q": "json", "limit": 20}, 700),
    ("hex_search", {"q": "phoenix", "limit": 20}, 700),
    ("hex_search", {"q": "plug", "limit": 20}, 700),
    ("hex_meta", {}, 250),
]


@pytest.mark.parametrize(("tool", "args", "budget"), BUDGETS, ids=[f"{t}-{a}" for t, a, _ in BUDGETS])
async def test_token_budgets(
    make_settings: Callable[..., Settings], backend: str, tool: str, args: dict[str, Any], budget: int
) -> None:
    async with Client(create_server(make_settings(backend))) as c:  # type: ignore[arg-type]
        result = await c.call_tool(tool, args)
    assert not result.is_error, text_of(result)
    assert tokens(text_of(result)) <= budget


# -- errors ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "args", "needle"),
    [
        ("hex_package", {"name": "Phoenix.js"}, "name='Phoenix.js' is not a Hex package name"),
        ("hex_package", {"name": "a"}, "is not a Hex package name"),
        ("hex_package", {"name": "../../etc"}, "is not a Hex package name"),
        ("hex_releases", {"name": "phoenix", "limit": 0}, "limit=0 is out of range: use 1..500"),
        ("hex_releases", {"name": "phoenix", "limit": 501}, "limit=501 is out of range: use 1..500"),
        ("hex_releases", {"name": "phoenix", "requirement": "~> banana"}, "is not a Hex version requirement"),
        ("hex_release", {"name": "phoenix", "version": "1.7"}, "did you mean '~> 1.7'?"),
        ("hex_release", {"name": "phoenix", "version": "1.7.14+build.1"}, "is not a version"),
        ("hex_release", {"name": "phoenix", "version": "v1.7.14"}, "is not a version"),
        ("hex_search", {"q": "   "}, "q is empty"),
        ("hex_search", {"q": "json", "limit": 101}, "limit=101 is out of range: use 1..100"),
        ("hex_search", {"q": "json", "page": 0}, "page=0 is out of range"),
        ("hex_search", {"q": "json", "sort": "stars"}, "sort='stars' is not one of: recent_downloads"),
        ("hex_search", {"q": "x" * 201}, "keep it under 200"),
    ],
)
async def test_invalid_input_is_rejected_before_any_upstream_call(
    client: Client, fake: FakeUpstream, tool: str, args: dict[str, Any], needle: str
) -> None:
    result = await client.call_tool(tool, args)
    assert result.is_error
    assert needle in text_of(result)
    assert text_of(result).startswith(f"Error executing tool {tool}: ")
    assert "Traceback" not in text_of(result) and "pydantic" not in text_of(result)
    assert fake.hits == []


async def test_unknown_package(backend_client: Client) -> None:
    result = await backend_client.call_tool("hex_package", {"name": "no_such_pkg"})
    assert result.is_error
    assert text_of(result) == (
        "Error executing tool hex_package: No package 'no_such_pkg' on Hex. Package names are exact and lower-case; "
        "try hex_search with q='no_such_pkg' to find the right name."
    )


async def test_unknown_version_names_the_nearest(backend_client: Client) -> None:
    result = await backend_client.call_tool("hex_release", {"name": "jason", "version": "1.4.9"})
    assert result.is_error
    assert text_of(result) == (
        "Error executing tool hex_release: jason has no release 1.4.9. Nearest existing versions: 1.4.3, 1.4.4. "
        "Call hex_releases with name='jason' to list all versions."
    )


@pytest.mark.parametrize("tool", ["hex_package", "hex_releases"])
async def test_older_document_without_latest_stable_version(
    client: Client, fake: FakeUpstream, tool: str
) -> None:
    """Older hex.pm documents (and some list items) lack latest_stable_version: it is computed, never "none"."""
    doc = json.loads((DEFAULT_FIXTURES / "packages" / "phoenix.json").read_text(encoding="utf-8"))
    for key in ("latest_stable_version", "latest_version"):
        del doc[key]
    fake.add_fault(Fault("status", path_prefix="/api/packages/phoenix", status=200, body=doc))
    text = text_of(
        await client.call_tool(
            tool, {"name": "phoenix", "limit": 5} if tool == "hex_releases" else {"name": "phoenix"}
        )
    )
    assert "latest stable: 1.8.7" in text and "newer pre-release: 1.9.0-rc.0" in text
    assert "only pre-releases" not in text


async def test_listed_release_without_a_document(client: Client, fake: FakeUpstream) -> None:
    """hex.pm lists 1.4.4 (the latest) but 404s its document: say so, not "no release 1.4.4"."""
    fake.add_fault(Fault("status", path_prefix="/api/packages/jason/releases/1.4.4", status=404))
    result = await client.call_tool("hex_release", {"name": "jason"})
    assert result.is_error
    assert text_of(result) == (
        "Error executing tool hex_release: hex.pm lists jason 1.4.4, but its release document could not be "
        "fetched (HTTP 404). Try again later, or ask for another version (hex_releases with name='jason' lists "
        "them)."
    )


async def test_unknown_package_for_release(backend_client: Client) -> None:
    result = await backend_client.call_tool("hex_release", {"name": "no_such_pkg", "version": "1.0.0"})
    assert result.is_error and "No package 'no_such_pkg' on Hex" in text_of(result)


async def test_requirement_with_no_match(client: Client) -> None:
    result = await client.call_tool("hex_release", {"name": "jason", "version": "~> 9.0"})
    assert result.is_error
    assert "jason has no release ~> 9.0." in text_of(result)


@pytest.mark.parametrize(
    ("fault", "needle"),
    [
        (Fault("status", status=401), "OANOR_API_KEY"),
        (Fault("status", status=402), "requires an active subscription"),
        (Fault("ratelimited"), "rate limit or monthly quota was reached (HTTP 429)"),
        (Fault("status", status=502), "failed on its side (HTTP 502)"),
        (Fault("malformed"), "malformed JSON"),
    ],
)
async def test_gateway_errors(
    make_settings: Callable[..., Settings], fake: FakeUpstream, fault: Fault, needle: str
) -> None:
    fake.add_fault(fault)
    async with Client(create_server(make_settings("oanor"))) as c:  # type: ignore[arg-type]
        result = await c.call_tool("hex_package", {"name": "jason"})
    assert result.is_error
    assert needle in text_of(result)
    assert "test-oanor-key" not in text_of(result)


async def test_hexpm_429_says_when_to_retry(client: Client, fake: FakeUpstream) -> None:
    fake.add_fault(Fault("ratelimited"))
    result = await client.call_tool("hex_package", {"name": "jason"})
    assert result.is_error
    text = text_of(result)
    assert "hex.pm rate limit reached (HTTP 429" in text and "retry after" in text and "UTC" in text


async def test_unreachable_upstream(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings("hexpm", base_url="http://127.0.0.1:9/api")
    async with Client(create_server(settings)) as c:  # type: ignore[arg-type]
        result = await c.call_tool("hex_package", {"name": "jason"})
    assert result.is_error
    assert "hex.pm is unreachable (ConnectError)" in text_of(result)


async def test_one_upstream_call_serves_package_and_releases_on_hexpm(
    client: Client, fake: FakeUpstream
) -> None:
    await client.call_tool("hex_package", {"name": "plug"})
    await client.call_tool("hex_releases", {"name": "plug"})
    await client.call_tool("hex_release", {"name": "plug"})
    assert fake.count("/api/packages/plug") == 2  # the package document + the one release
    assert fake.count("/api/packages/plug/releases/") == 1


async def test_repeated_call_within_ttl_is_served_from_disk_after_restart(
    settings: Settings, fake: FakeUpstream
) -> None:
    for _ in range(2):  # two server lifetimes sharing one cache dir
        async with Client(create_server(settings)) as c:  # type: ignore[arg-type]
            first = await c.call_tool("hex_package", {"name": "decimal"})
            assert not first.is_error
    assert fake.count("/api/packages/decimal") == 1


async def test_latest_of_a_package_with_only_prereleases(client: Client) -> None:
    result = await client.call_tool("hex_release", {"name": "astra_kv"})
    assert result.is_error
    assert text_of(result) == (
        "Error executing tool hex_release: astra_kv has no stable release yet, only pre-releases (0.1.0-beta.1, "
        "0.1.0-alpha.2, 0.1.0-alpha.1). Ask for one by version, e.g. version='0.1.0-beta.1'."
    )


async def test_input_schemas_are_portable(client: Client) -> None:
    """No "null" types and no anyOf/oneOf in parameters: Gemini's schema subset and strict checkers accept them."""
    for tool in (await client.list_tools()).tools:
        for name, prop in (tool.input_schema.get("properties") or {}).items():
            assert isinstance(prop.get("type"), str), (tool.name, name)
            assert not {"anyOf", "oneOf"} & set(prop), (tool.name, name)
            assert None not in (prop.get("enum") or []) and prop.get("default", "") is not None, (
                tool.name,
                name,
            )


async def test_no_prompts_capability_is_advertised(client: Client) -> None:
    # hex-mcp has no prompts: hosts should not be sent looking for an empty list.
    capabilities = client.server_capabilities
    assert capabilities is not None
    assert capabilities.prompts is None
    assert capabilities.tools is not None and capabilities.resources is not None
    assert capabilities.completions is not None
    with pytest.raises(MCPError, match="Method not found"):
        await client.list_prompts()
