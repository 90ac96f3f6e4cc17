"""server.json (MCP Registry) and manifest.json (MCPB / Claude Desktop extension) agree with the code."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from fakehex.upstream import FakeUpstream
from hex_mcp import __version__
from hex_mcp.config import LOG_LEVELS, Settings
from hex_mcp.models import BACKEND_NAMES as BACKENDS
from hex_mcp.server import HOMEPAGE, create_server
from hex_mcp.tryout import list_tools
from tests.conftest import OANOR_KEY

ROOT = Path(__file__).resolve().parent.parent
SERVER_JSON = json.loads((ROOT / "server.json").read_text(encoding="utf-8"))
MANIFEST = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

# From the MCP Registry's server.schema.json (2025-12-11): the `required` lists of ServerDetail, Package,
# the transports and KeyValueInput, and the constraints the official registry rejects on.
SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
SERVER_REQUIRED = ("name", "description", "version")
PACKAGE_REQUIRED = ("registryType", "identifier", "transport")
TRANSPORT_REQUIRED = {"stdio": ("type",), "streamable-http": ("type", "url"), "sse": ("type", "url")}
ENV_REQUIRED = ("name",)
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$")
URL_PATTERN = re.compile(r"^(https?://[^\s]+|\{[a-zA-Z_][a-zA-Z0-9_]*\}[^\s]*)$")
INPUT_FORMATS = {"string", "number", "boolean", "filepath"}
SECRETS = {
    "OANOR_API_KEY",
    "HEX_API_KEY",
    "HEX_MCP_AUTH_TOKEN",
    "HEX_MCP_REDIS_URL",
    "HEX_MCP_REDIS_PASSWORD",
}

# From the MCPB manifest schema (0.3): required top-level fields, server fields and user_config fields.
MANIFEST_REQUIRED = ("manifest_version", "name", "version", "description", "author", "server")
MANIFEST_SERVER_REQUIRED = ("type", "entry_point", "mcp_config")
USER_CONFIG_REQUIRED = ("type", "title", "description")
USER_CONFIG_TYPES = {"string", "number", "boolean", "directory", "file"}
PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


def config_env_names() -> set[str]:
    """Every variable `Settings.from_env` reads (its local `get(...)`, not platform `os.environ.get`)."""
    source = (ROOT / "hex_mcp" / "config.py").read_text(encoding="utf-8")
    names = set(re.findall(r"(?<![.\w])get\(\"([A-Z][A-Z0-9_]*)\"\)", source))
    assert {"OANOR_API_KEY", "HEX_MCP_BACKEND"} <= names  # the pattern still finds the reads
    return names


def env_vars(package: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {var["name"]: var for var in package.get("environmentVariables", [])}


# -- server.json -------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_one_website_url(settings: Settings) -> None:
    async with Client(create_server(settings), mode="legacy") as client:
        assert client.server_info is not None
        assert client.server_info.website_url == SERVER_JSON["websiteUrl"] == HOMEPAGE
    assert f'Homepage = "{HOMEPAGE}"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_server_json_has_the_schemas_required_fields() -> None:
    assert SERVER_JSON["$schema"] == SCHEMA_URL
    for field in SERVER_REQUIRED:
        assert SERVER_JSON.get(field), field
    assert NAME_PATTERN.match(SERVER_JSON["name"])
    assert 3 <= len(SERVER_JSON["name"]) <= 200
    assert 1 <= len(SERVER_JSON["description"]) <= 100
    assert SERVER_JSON["repository"]["source"] == "github"
    assert SERVER_JSON["packages"], "at least one package"
    for package in SERVER_JSON["packages"]:
        for field in PACKAGE_REQUIRED:
            assert package.get(field), field
        transport = package["transport"]
        for field in TRANSPORT_REQUIRED[transport["type"]]:
            assert transport.get(field), field
        if "url" in transport:
            assert URL_PATTERN.match(transport["url"])
            for variable in re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", transport["url"]):
                assert variable in env_vars(package), f"{variable} in the URL is not an environment variable"
        for var in package["environmentVariables"]:
            for field in ENV_REQUIRED:
                assert var.get(field), field
            assert var.get("description"), f"{var['name']} needs a description"
            assert var.get("format", "string") in INPUT_FORMATS


def test_server_json_points_at_this_pypi_package_and_version() -> None:
    assert SERVER_JSON["version"] == __version__
    for package in SERVER_JSON["packages"]:
        assert package["registryType"] == "pypi"
        assert package["registryBaseUrl"] == "https://pypi.org"
        assert package["identifier"] == PROJECT["name"] == "mcp-server-hexpm"
        assert package["version"] == __version__
    # `uvx mcp-server-hexpm` runs the console script named like the package: it must exist.
    assert PROJECT["scripts"]["mcp-server-hexpm"] == PROJECT["scripts"]["hex-mcp"]
    assert SERVER_JSON["packages"][0]["transport"] == {"type": "stdio"}


def test_server_json_env_vars_match_the_code() -> None:
    listed = set().union(*(env_vars(p) for p in SERVER_JSON["packages"]))
    assert listed == config_env_names()
    for package in SERVER_JSON["packages"]:
        for name, var in env_vars(package).items():
            assert var.get("isSecret", False) == (name in SECRETS), name
    stdio = env_vars(SERVER_JSON["packages"][0])
    assert "HEX_MCP_TRANSPORT" not in stdio  # the stdio package must not switch itself to HTTP
    assert stdio["HEX_MCP_BACKEND"]["choices"] == list(BACKENDS)
    assert stdio["HEX_MCP_LOG_LEVEL"]["choices"] == list(LOG_LEVELS)
    defaults = Settings()
    assert stdio["HEX_MCP_TIMEOUT"]["default"] == f"{defaults.timeout:g}"
    assert stdio["HEX_MCP_CACHE_SIZE_MB"]["default"] == str(defaults.cache_size_mb)
    assert stdio["HEX_MCP_LOG_LEVEL"]["default"] == defaults.log_level


def test_readme_carries_the_registry_ownership_marker() -> None:
    # The registry proves PyPI ownership by finding this line in the package description (the README).
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"mcp-name: {SERVER_JSON['name']}" in readme


# -- manifest.json -----------------------------------------------------------------------------------------


def test_manifest_has_the_required_fields() -> None:
    for field in MANIFEST_REQUIRED:
        assert MANIFEST.get(field), field
    assert MANIFEST["author"].get("name")
    server = MANIFEST["server"]
    for field in MANIFEST_SERVER_REQUIRED:
        assert server.get(field), field
    assert server["type"] == "python"
    assert (ROOT / server["entry_point"]).is_file()
    assert server["mcp_config"].get("command")
    for key, option in MANIFEST["user_config"].items():
        for field in USER_CONFIG_REQUIRED:
            assert option.get(field), f"user_config.{key}.{field}"
        assert option["type"] in USER_CONFIG_TYPES


def test_manifest_user_config() -> None:
    options = MANIFEST["user_config"]
    key = options["oanor_api_key"]
    assert key["type"] == "string"
    assert key["sensitive"] is True
    assert key["required"] is False
    assert options["hex_api_key"]["sensitive"] is True
    assert set(BACKENDS) <= set(re.findall(r"[a-z]+", options["backend"]["description"]))
    # Optional settings default to "" so a host substitutes an empty value, never a raw ${user_config...}.
    assert all(option.get("default") == "" for option in options.values() if option["required"] is False)
    env = MANIFEST["server"]["mcp_config"]["env"]
    assert env["OANOR_API_KEY"] == "${user_config.oanor_api_key}"
    assert env["HEX_MCP_BACKEND"] == "${user_config.backend}"
    assert set(env) - {"PYTHONPATH"} <= config_env_names()
    used = {
        m for config in mcp_configs() for value in config_strings(config) for m in PLACEHOLDER.findall(value)
    }
    assert {u.removeprefix("user_config.") for u in used if u.startswith("user_config.")} == set(options)


def test_manifest_version_and_tools_match_the_server(settings: Settings) -> None:
    assert MANIFEST["version"] == __version__
    tools = anyio.run(list_tools, settings)
    assert [t["name"] for t in MANIFEST["tools"]] == [t.name for t in tools], (
        "run `python scripts/build_mcpb.py --sync` after changing the tools"
    )
    assert all(t.get("description") for t in MANIFEST["tools"])


def mcp_configs() -> list[dict[str, Any]]:
    config = MANIFEST["server"]["mcp_config"]
    return [config, *config.get("platform_overrides", {}).values()]


def config_strings(config: dict[str, Any]) -> list[str]:
    return [config.get("command", ""), *config.get("args", []), *config.get("env", {}).values()]


def resolve_mcp_config(
    dirname: Path, user_values: dict[str, str], platform: str = sys.platform
) -> dict[str, Any]:
    """What a host does with `mcp_config`: apply the platform override, then substitute the variables."""
    config = MANIFEST["server"]["mcp_config"]
    override = config.get("platform_overrides", {}).get(platform, {})
    merged = {"command": config["command"], "args": config.get("args", []), "env": config.get("env", {})}
    merged.update({k: v for k, v in override.items() if k in ("command", "args", "env")})
    values = {"__dirname": str(dirname), "/": "/", "pathSeparator": "/"}
    values.update({f"user_config.{k}": v for k, v in user_values.items()})

    def substitute(text: str) -> str:
        return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)

    return {
        "command": substitute(merged["command"]),
        "args": [substitute(a) for a in merged["args"]],
        "env": {k: substitute(v) for k, v in merged["env"].items()},
    }


def test_windows_override_keeps_the_same_settings() -> None:
    config = MANIFEST["server"]["mcp_config"]
    windows = config["platform_overrides"]["win32"]
    assert set(windows["env"]) == set(config["env"])
    assert {k: v for k, v in windows["env"].items() if k != "PYTHONPATH"} == {
        k: v for k, v in config["env"].items() if k != "PYTHONPATH"
    }
    assert ";" in windows["env"]["PYTHONPATH"]
    assert ":" in config["env"]["PYTHONPATH"].replace("${__dirname}", "")


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize("backend", ["oanor", "hexpm"])
async def test_manifest_mcp_config_starts_the_server(
    fake: FakeUpstream, tmp_path: Path, backend: str
) -> None:
    """The manifest's command, args and env, substituted as a host would, serve the tools over stdio."""
    if backend == "oanor":
        user_values = {"oanor_api_key": OANOR_KEY, "backend": "oanor", "hex_api_key": ""}
        base_url = fake.oanor_url
    else:  # nothing configured: every optional setting is empty and hex.pm answers
        user_values = {key: option.get("default", "") for key, option in MANIFEST["user_config"].items()}
        base_url = fake.hexpm_url
    resolved = resolve_mcp_config(ROOT, user_values)
    assert resolved["command"] in ("python", "python3")
    # A host finds its own Python; here it is the test interpreter, which has the dependencies installed.
    env = {
        **resolved["env"],
        "HEX_MCP_BASE_URL": base_url,
        "HEX_MCP_CACHE_DIR": str(tmp_path / "cache"),
        "HEX_MCP_REGISTRY": "off",  # no launched server may reach repo.hex.pm
    }
    params = StdioServerParameters(command=sys.executable, args=resolved["args"], env=env, cwd=str(tmp_path))
    async with Client(params, mode="legacy") as client:
        tools = await client.list_tools()
        assert [t.name for t in tools.tools] == [t["name"] for t in MANIFEST["tools"]]
        result = await client.call_tool("hex_package", {"name": "jason"})
        assert not result.is_error, result.content
    prefix = "/hex-api/" if backend == "oanor" else "/api/"
    assert fake.count(prefix) >= 1
    if backend == "oanor":
        assert all(hit.headers.get("x-oanor-key") == OANOR_KEY for hit in fake.hits)
