"""The MCP face of hex-mcp: the tools, their input schemas, resources and completions.

The domain never imports `mcp`; this module, `http_app` (the HTTP transports), `stdio` (the stdio loop) and
`tryout` (`hex-mcp call`) are the ones that do. `create_server(settings)` builds an `MCPServer` whose lifespan
owns one `HexService` (HTTP client + disk cache). Each tool is a module-level function of three steps: the service
validates and answers, the renderer turns the view into compact text, and `_result` returns that text plus the
same data as structured content. A `HexError` becomes an `isError` result through `ToolError`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import httpx2
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import (
    CallToolResult,
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    ResourceTemplateReference,
    TextContent,
    ToolAnnotations,
)
from mcp.types import Tool as MCPTool
from pydantic import BaseModel, Field, WithJsonSchema
from starlette.requests import Request
from starlette.responses import JSONResponse

from hex_mcp import __version__, render, tool_schemas, validate
from hex_mcp.changelog_part import MAX_TOKENS_DEFAULT, MAX_TOKENS_MAX, MAX_TOKENS_MIN
from hex_mcp.config import Settings
from hex_mcp.errors import HexError, InvalidInput, NotFound
from hex_mcp.http_app import auth_options
from hex_mcp.models import (
    DiffView,
    MetaView,
    OutdatedView,
    PackageView,
    PlanView,
    ReleasesView,
    ReleaseView,
    SearchView,
)
from hex_mcp.service import HexService, store_health

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

INSTRUCTIONS = """\
Read-only answers about Hex (hex.pm) packages for Elixir, Erlang and Gleam. Package names are exact and \
lower-case. A version argument is exact ("1.7.14"), a requirement ("~> 1.7": its highest non-retired match) or \
"latest" (the default: latest stable, non-retired; pre-releases never count). Answers end with source and age.
"""

# The product's home, as server.json and pyproject.toml name it (a test keeps the three equal).
HOMEPAGE = "https://github.com/hex-mcp/mcp-server-hexpm"

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)


def _param(schema: dict[str, Any]) -> WithJsonSchema:
    """Advertise bounds in the schema; the service enforces them with messages written for a model.

    Portable on purpose: an optional parameter is a plain type left out of `required` (no `"null"` type, no
    `anyOf`), which every host's schema subset accepts; leaving it out means "not given".
    """
    return WithJsonSchema(schema)


def _omit_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


# An optional parameter's Python default is None ("not given"); the advertised schema leaves it out entirely.
OPTIONAL = Field(json_schema_extra=_omit_default)

PackageName = Annotated[
    str,
    _param(
        {
            "type": "string",
            "minLength": validate.NAME_MIN,
            "maxLength": validate.NAME_MAX,
            "pattern": validate.NAME_PATTERN,
            "description": "e.g. 'plug_cowboy'",
        }
    ),
]
ReleasesLimit = Annotated[
    int,
    _param(
        {
            "type": "integer",
            "minimum": 1,
            "maximum": validate.RELEASES_LIMIT_MAX,
            "default": 50,
        }
    ),
]
Requirement = Annotated[
    str | None,
    _param(
        {
            "type": "string",
            "maxLength": validate.VERSION_MAX,
            "description": "e.g. '~> 1.7' or '>= 1.2.0 and < 2.0.0'",
        }
    ),
    OPTIONAL,
]
IncludePre = Annotated[
    bool,
    _param(
        {
            "type": "boolean",
            "default": False,
            "description": "let pre-releases match (Mix does not)",
        }
    ),
]
VersionArg = Annotated[
    str | None,
    _param(
        {
            "type": "string",
            "maxLength": validate.VERSION_MAX,
        }
    ),
    OPTIONAL,
]
SearchQuery = Annotated[
    str,
    _param(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": validate.QUERY_MAX,
            "description": "words and filters: depends:NAME (reverse dependencies), name:phx_* (wildcards), "
            "description:WORD, build_tool:mix|rebar3|gleam",
        }
    ),
]
SearchPageArg = Annotated[
    int,
    _param(
        {
            "type": "integer",
            "minimum": 1,
            "maximum": validate.SEARCH_PAGE_MAX,
            "default": 1,
        }
    ),
]
SearchLimit = Annotated[
    int,
    _param(
        {
            "type": "integer",
            "minimum": 1,
            "maximum": validate.SEARCH_LIMIT_MAX,
            "default": 20,
        }
    ),
]
SearchSort = Annotated[
    str | None,
    _param(
        {
            "type": "string",
            "enum": list(validate.SORTS),
            "description": "hex.pm only; default recent_downloads (90 days)",
        }
    ),
    OPTIONAL,
]
FromVersion = Annotated[
    str,
    _param(
        {
            "type": "string",
            "maxLength": validate.VERSION_MAX,
            "description": "where you start; not 'latest'",
        }
    ),
]
ToVersion = Annotated[
    str | None,
    _param(
        {
            "type": "string",
            "maxLength": validate.VERSION_MAX,
            "description": "where you go (older: a downgrade)",
        }
    ),
    OPTIONAL,
]
ChangelogTokens = Annotated[
    int,
    _param(
        {
            "type": "integer",
            "minimum": MAX_TOKENS_MIN,
            "maximum": MAX_TOKENS_MAX,
            "default": MAX_TOKENS_DEFAULT,
            "description": "o200k tokens for the changelog part",
        }
    ),
]
DepsText = Annotated[
    str,
    _param(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": validate.DEPS_MAX,
            "description": "a mix.lock, a mix.exs deps list, or lines like 'jason 1.4.4' / 'phoenix ~> 1.7'",
        }
    ),
]


@dataclass
class AppState:
    service: HexService


async def _nothing_to_report() -> dict[str, Any]:
    return {}


class HexMCPServer(MCPServer[AppState]):
    """`MCPServer` with two trims: no `prompts` capability (hex-mcp has no prompts, and an advertised empty list
    sends hosts looking), and `tools/list` with the schemas of `hex_mcp.tool_schemas`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # What /healthz adds to the transport's own counts (the shared store, when there is one).
        self.health_report: Callable[[], Awaitable[dict[str, Any]]] = _nothing_to_report
        self._published_tools: dict[str, tuple[MCPTool, MCPTool]] = {}  # name -> (as derived, as published)
        # The SDK registers prompt handlers unconditionally and advertises whatever is registered; it has no
        # public way to drop one, so this reaches into its table (mcp is pinned below 3; tests/test_tools.py
        # checks the capabilities).
        for method in ("prompts/list", "prompts/get"):
            self._lowlevel_server._request_handlers.pop(method, None)

    async def list_tools(self) -> list[MCPTool]:
        # Trimmed once per tool: a stateless HTTP deployment is asked for the list on every request.
        return [self._published(tool) for tool in await super().list_tools()]

    def _published(self, tool: MCPTool) -> MCPTool:
        cached = self._published_tools.get(tool.name)
        if cached is not None and cached[0] == tool:  # the SDK builds a fresh, equal Tool on every call
            return cached[1]
        published = tool.model_copy(
            update={
                "input_schema": tool_schemas.input_schema(tool.input_schema),
                "output_schema": tool_schemas.output_schema(tool.output_schema)
                if tool.output_schema is not None
                else None,
            }
        )
        self._published_tools[tool.name] = (tool, published)
        return published


def _result(view: M, text: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=view.model_dump(mode="json")
    )


async def _answer(work: Awaitable[M]) -> M:
    """Await a service call, turning any `HexError` into the `ToolError` the model reads."""
    try:
        return await work
    except HexError as exc:
        raise ToolError(str(exc)) from None


async def _read(work: Awaitable[M]) -> M:
    """Await a service call for a resource read: a missing package or bad URI part is -32602, the rest -32603."""
    try:
        return await work
    except (NotFound, InvalidInput) as exc:
        raise ResourceNotFoundError(str(exc)) from None
    except HexError as exc:
        raise ResourceError(str(exc)) from None


class _SharedService:
    """One HexService per server, however many times the MCP lifespan is entered (SSE enters it per connection)."""

    def __init__(self, settings: Settings, http_transport: httpx2.AsyncBaseTransport | None) -> None:
        self.settings = settings
        self.http_transport = http_transport
        self.service: HexService | None = None
        self.users = 0

    @asynccontextmanager
    async def lifespan(self, _server: MCPServer[AppState]) -> AsyncIterator[AppState]:
        if self.service is None:
            self.service = HexService(self.settings, http_transport=self.http_transport)
        service = self.service
        self.users += 1
        try:
            yield AppState(service=service)
        finally:
            self.users -= 1
            if self.users == 0:
                self.service = None
                await service.aclose()

    async def complete(
        self,
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        """Package names (cache first, then hex.pm's name search) and, given a name, its versions."""
        live = self.service
        if live is None or not isinstance(ref, ResourceTemplateReference) or not ref.uri.startswith("hex://"):
            return None
        if argument.name == "name":
            names, more = await live.complete_package_names(argument.value)
            return Completion(values=names, total=None if more else len(names), has_more=more)
        if argument.name == "version":
            name = (context.arguments or {}).get("name") if context is not None else None
            versions = await live.complete_versions(name, argument.value) if name else []
            return Completion(values=versions, total=len(versions), has_more=False)
        return None


def _service(ctx: Context[AppState]) -> HexService:
    return ctx.request_context.lifespan_context.service


# -- tools: each docstring, reflowed to one paragraph, is the description the model reads ------------------


async def hex_package(name: PackageName, ctx: Context[AppState]) -> Annotated[CallToolResult, PackageView]:
    """A package: description, latest stable (and newer pre-release), recent releases, downloads, licenses,
    owners, links, docs, install line, retirements, advisories."""
    view = await _answer(_service(ctx).package(name))
    return _result(view, render.package(view))


async def hex_releases(
    name: PackageName,
    ctx: Context[AppState],
    limit: ReleasesLimit = 50,
    requirement: Requirement = None,
    include_prereleases: IncludePre = False,
) -> Annotated[CallToolResult, ReleasesView]:
    """Release history, newest first, with dates and pre-release/retired marks; with a requirement, only
    matching releases and the highest non-retired match."""
    view = await _answer(_service(ctx).releases(name, limit, requirement, include_prereleases))
    return _result(view, render.releases(view))


async def hex_release(
    name: PackageName, ctx: Context[AppState], version: VersionArg = None
) -> Annotated[CallToolResult, ReleaseView]:
    """One release: dependencies, Elixir requirement, build tools, date, downloads, checksum, retirement,
    advisories."""
    view = await _answer(_service(ctx).release(name, version))
    return _result(view, render.release(view))


async def hex_search(
    q: SearchQuery,
    ctx: Context[AppState],
    page: SearchPageArg = 1,
    limit: SearchLimit = 20,
    sort: SearchSort = None,
) -> Annotated[CallToolResult, SearchView]:
    """Find packages, and who depends on one (q="depends:jason"); hits show latest stable, downloads and last
    update, to compare popularity and upkeep."""
    view = await _answer(_service(ctx).search(q, page, limit, sort))
    return _result(view, render.search(view))


async def hex_meta(ctx: Context[AppState]) -> Annotated[CallToolResult, MetaView]:
    """This server's backend, cache, registry, monthly quota and rate-limit state."""
    view = await _answer(_service(ctx).meta())
    return _result(view, render.meta(view))


async def hex_diff(
    name: PackageName,
    from_version: FromVersion,
    ctx: Context[AppState],
    to_version: ToVersion = None,
    max_tokens: ChangelogTokens = MAX_TOKENS_DEFAULT,
) -> Annotated[CallToolResult, DiffView]:
    """What changes between two versions of a package: changelog entries in between (breaking changes,
    deprecations, security first), dependencies, Elixir requirement, build tools, retirements, advisories fixed
    or introduced, releases between, code-diff link."""
    view = await _answer(_service(ctx).diff(name, from_version, to_version, max_tokens))
    return _result(view, render.diff(view))


async def hex_outdated(deps: DepsText, ctx: Context[AppState]) -> Annotated[CallToolResult, OutdatedView]:
    """Every Hex dependency of a pasted mix.lock and/or mix.exs deps list: current, latest stable, best
    match within its requirement, update kind, whether the update is possible or what blocks it, retired or
    vulnerable current versions; problems first, git/path deps skipped."""
    view = await _answer(_service(ctx).outdated(deps))
    return _result(view, render.outdated(view))


PlanDeps = Annotated[
    str,
    _param(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": validate.DEPS_MAX,
            "description": "a mix.lock, optionally with the mix.exs deps list",
        }
    ),
]
UpdateNames = Annotated[
    str,
    _param(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 2000,
            "description": "names, space-separated, or 'all'",
        }
    ),
]
Target = Annotated[
    str | None,
    _param(
        {
            "type": "string",
            "maxLength": 500,
            "description": "e.g. 'phoenix ~> 1.8'; several: separate with ';'",
        }
    ),
    OPTIONAL,
]


async def hex_plan(
    deps: PlanDeps, update: UpdateNames, ctx: Context[AppState], target: Target = None
) -> Annotated[CallToolResult, PlanView]:
    """What `mix deps.update` would do: lock lines that change and why, packages added or removed, retired
    or flagged picks; if impossible, the shortest chain of conflicting requirements."""
    view = await _answer(_service(ctx).plan(deps, update, target))
    return _result(view, render.plan(view))


# -- resources, completions, health ------------------------------------------------------------------------


async def package_resource(name: str, ctx: Context[AppState]) -> str:
    view = await _read(_service(ctx).package(name))
    return render.package(view)


async def release_resource(name: str, version: str, ctx: Context[AppState]) -> str:
    view = await _read(_service(ctx).release(name, version))
    return render.release(view)


def _store_report(shared: _SharedService) -> Callable[[], Awaitable[dict[str, Any]]]:
    """The shared store's part of /healthz (a degraded store is still healthy); empty without a store."""

    async def report() -> dict[str, Any]:
        live = shared.service
        store = await live.store_info() if live is not None else await store_health(shared.settings)
        return {} if store is None else {"store": store}

    return report


def _healthz(
    store_report: Callable[[], Awaitable[dict[str, Any]]],
) -> Callable[[Request], Awaitable[JSONResponse]]:
    """/healthz where no HTTP guard answers it first (the guard adds connection and session counts)."""

    async def handler(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "name": "hex-mcp", "version": __version__, **await store_report()})

    return handler


TOOLS: tuple[tuple[Callable[..., Any], str], ...] = (
    (hex_package, "Hex package"),
    (hex_releases, "Hex package releases"),
    (hex_release, "Hex release"),
    (hex_search, "Search Hex"),
    (hex_meta, "Server and upstream status"),
    (hex_diff, "Compare two Hex releases"),
    (hex_outdated, "Check dependencies for updates, retirements and advisories"),
    (hex_plan, "Plan a dependency update"),
)
# (function, URI template, name, title, description); every resource answers the tool's text as text/plain.
RESOURCES: tuple[tuple[Callable[..., Any], str, str, str, str], ...] = (
    (
        package_resource,
        "hex://package/{name}",
        "hex_package",
        "Hex package",
        "The hex_package answer for one package, as compact text.",
    ),
    (
        release_resource,
        "hex://package/{name}/{version}",
        "hex_release",
        "Hex release",
        "The hex_release answer for one version ('latest' or a requirement work too), as text.",
    ),
)


def create_server(
    settings: Settings, *, http_transport: httpx2.AsyncBaseTransport | None = None
) -> MCPServer[AppState]:
    """Build the MCP server; `http_transport` replaces the network in tests."""
    shared = _SharedService(settings, http_transport)
    mcp = HexMCPServer(
        "hex-mcp",
        title="Hex package registry",
        version=__version__,
        instructions=INSTRUCTIONS,
        website_url=HOMEPAGE,
        lifespan=shared.lifespan,
        log_level=settings.log_level,
        **auth_options(settings),
    )
    for fn, title in TOOLS:
        description = " ".join((fn.__doc__ or "").split())
        mcp.tool(title=title, annotations=READ_ONLY, description=description)(fn)
    for fn, uri, name, title, description in RESOURCES:
        mcp.resource(uri, name=name, title=title, description=description, mime_type="text/plain")(fn)
    mcp.completion()(shared.complete)  # type: ignore[no-untyped-call]  # the SDK leaves it untyped
    mcp.health_report = _store_report(shared)
    mcp.custom_route("/healthz", methods=["GET"])(_healthz(mcp.health_report))
    return mcp
