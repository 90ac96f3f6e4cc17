"""The import rules of docs/architecture.md, read from the source with `ast` so that a violation fails CI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "hex_mcp"

# The MCP face: the only modules that may import the SDK or the ASGI stack.
MCP_FACE = {"server", "http_app", "http_guard", "http_server", "stdio", "tryout", "cli"}
MCP_PACKAGES = {"mcp", "starlette", "uvicorn", "sse_starlette"}

# Pure logic: data in, data out. No network, no disk, no event loop, no MCP.
PURE = {
    "backends",
    "changelog",
    "changelog_part",
    "deps_input",
    "errors",
    "from_registry",
    "models",
    "plan",
    "plan_input",
    "registry.decode",
    "registry.model",
    "registry.verify",
    "registry.wire",
    "render",
    "resolve",
    "tarball",
    "tool_schemas",
    "tokens",
    "upgrade",
    "validate",
    "versions",
}
IO_MODULES = {
    "httpx2",
    "diskcache",
    "redis",
    "sqlite3",
    "socket",
    "subprocess",
    "anyio",
    "asyncio",
    "urllib.request",
}
IO_LAYERS = {
    "upstream",
    "cache",
    "redis_store",
    "fetch",
    "service",
    "release_notes",
    "doctor",
    "cache_commands",
    "planning",
}
# Renderers and models see views only: never the layers that fetch them.
VIEW_ONLY = {"render", "models"}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (lazy imports inside functions count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(p): imports(p) for p in sorted(PACKAGE.rglob("*.py")) if p.name != "__init__.py"}


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def _ours(name: str) -> str | None:
    """`hex_mcp.fetch` → `fetch`; `hex_mcp.registry.wire` → `registry.wire`; other packages → None."""
    if not name.startswith("hex_mcp."):
        return None
    return name[len("hex_mcp.") :]


def test_every_listed_module_exists() -> None:
    assert (PURE | MCP_FACE | IO_LAYERS) - set(MODULES) == set()


@pytest.mark.parametrize("module", sorted(set(MODULES) - MCP_FACE))
def test_the_domain_never_imports_mcp(module: str) -> None:
    assert {name for name in MODULES[module] if _top(name) in MCP_PACKAGES} == set()


@pytest.mark.parametrize("module", sorted(PURE))
def test_pure_modules_do_no_io(module: str) -> None:
    io = {name for name in MODULES[module] if name in IO_MODULES or _top(name) in IO_MODULES}
    layers = {name for name in MODULES[module] if (_ours(name) or "").split(".")[0] in IO_LAYERS | MCP_FACE}
    assert (io, layers) == (set(), set())


@pytest.mark.parametrize("module", sorted(VIEW_ONLY))
def test_views_and_renderers_never_reach_the_fetching_layers(module: str) -> None:
    reached = {
        n for n in MODULES[module] if (_ours(n) or "").split(".")[0] in {"upstream", "cache", "service"}
    }
    assert reached == set()


def test_the_rules_see_a_violation(tmp_path: Path) -> None:
    """The reader itself: a lazy import inside a function is found."""
    source = tmp_path / "bad.py"
    source.write_text("def f():\n    from mcp.server import MCPServer\n    import httpx2\n", encoding="utf-8")
    assert {"mcp.server", "mcp.server.MCPServer", "httpx2"} <= imports(source)
