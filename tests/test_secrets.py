"""Secret hygiene: the two API keys and the bearer token never appear in any output the server produces.

Every captured byte is searched for every secret value: DEBUG logs of the stdio and HTTP servers, tool answers
(errors included, structured content too), hex_meta, the settings' repr, the `cache`, `call` and `doctor`
commands, the exported snapshot, and every file in the cache directory.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.session import ClientSession
from mcp.client.stdio import stdio_client

from fakehex.upstream import FakeUpstream, Fault
from hex_mcp.config import Settings
from hex_mcp.server import create_server
from tests.helpers import INITIALIZE, MCP_HEADERS
from tests.test_e2e import free_port, hex_mcp_command
from tests.test_http_security import wait_for_health

pytestmark = pytest.mark.anyio

HEX_KEY = "hexkey-c0ffee-SECRET-0001"
OANOR_KEY = "oanorkey-decaf-SECRET-0002"
AUTH_TOKEN = "authtok-beef-SECRET-0003"
SECRETS = (HEX_KEY, OANOR_KEY, AUTH_TOKEN)


def assert_clean(where: str, data: str | bytes) -> None:
    raw = data.encode() if isinstance(data, str) else data
    for secret in SECRETS:
        # The values are plain ASCII: JSON-escaped or percent-encoded copies would contain them verbatim.
        assert secret.encode() not in raw, f"{where} contains a secret"


def dump(result: Any) -> str:
    content = [c.model_dump(mode="json") for c in result.content]
    return json.dumps(content) + json.dumps(result.structured_content)


@pytest.fixture(scope="module")
def keyed_fake() -> Iterator[FakeUpstream]:
    """A fake that requires exactly these keys, so the keys really travel (and a wrong one gets a 401)."""
    with FakeUpstream(oanor_key=OANOR_KEY, hex_api_key=HEX_KEY) as fake:
        yield fake


def env_for(fake: FakeUpstream, backend: str, cache_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HEX_MCP_BACKEND": backend,
        "HEX_MCP_BASE_URL": fake.oanor_url if backend == "oanor" else fake.hexpm_url,
        "HEX_MCP_REGISTRY": "off",  # these pin the API path; no launched server may reach repo.hex.pm
        "HEX_MCP_CACHE_DIR": str(cache_dir),
        "HEX_MCP_MAX_RPS": "0",
        "HEX_API_KEY": HEX_KEY,
        "OANOR_API_KEY": OANOR_KEY,
        "HEX_MCP_AUTH_TOKEN": AUTH_TOKEN,
        **extra,
    }


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["hexpm", "oanor"])
async def test_stdio_server_debug_logs_and_answers(
    keyed_fake: FakeUpstream, tmp_path: Path, backend: str
) -> None:
    keyed_fake.reset()
    cache_dir = tmp_path / "cache"
    env = env_for(keyed_fake, backend, cache_dir)
    params = StdioServerParameters(command=hex_mcp_command(), args=["--log-level", "DEBUG"], env=env)
    errlog_path = tmp_path / "stderr.log"
    answers: list[str] = []
    with errlog_path.open("w", encoding="utf-8") as errlog:
        async with stdio_client(params, errlog=errlog) as streams, ClientSession(*streams) as session:
            await session.initialize()
            for tool, args in [
                ("hex_package", {"name": "jason"}),
                ("hex_release", {"name": "jason"}),
                ("hex_search", {"q": "json"}),
                ("hex_meta", {}),
                ("hex_package", {"name": "no_such_package_xyz"}),
                ("hex_package", {"name": "Bad Name"}),
            ]:
                answers.append(dump(await session.call_tool(tool, args)))
            key_header = "x-oanor-key" if backend == "oanor" else "authorization"
            sent = [hit.headers.get(key_header) for hit in keyed_fake.hits]
            keyed_fake.add_fault(Fault("status", status=401))
            rejected = await session.call_tool("hex_package", {"name": "plug"})
            assert rejected.is_error and "HTTP 401" in dump(rejected)
            answers.append(dump(rejected))
            keyed_fake.reset()
    stderr = errlog_path.read_bytes()
    assert b"DEBUG" in stderr  # the log level really was DEBUG
    assert_clean("stdio stderr", stderr)
    for answer in answers:
        assert_clean("stdio answer", answer)
    assert set(sent) == {OANOR_KEY if backend == "oanor" else HEX_KEY}  # the key goes upstream, only there
    assert_cache_dir_clean(cache_dir)


async def test_in_memory_answers_errors_and_meta(keyed_fake: FakeUpstream, tmp_path: Path) -> None:
    keyed_fake.reset()
    for backend in ("hexpm", "oanor"):
        settings = Settings.from_env(env_for(keyed_fake, backend, tmp_path / "cache"))
        assert_clean("settings repr", repr(settings))
        assert_clean("settings str", str(settings))
        async with Client(create_server(settings)) as client:
            outputs = [
                await client.call_tool("hex_package", {"name": "jason"}),
                await client.call_tool("hex_meta", {}),
                await client.call_tool("hex_releases", {"name": "no_such_package_xyz"}),
            ]
            keyed_fake.add_fault(Fault("status", status=401))
            outputs.append(await client.call_tool("hex_package", {"name": "plug"}))
            keyed_fake.reset()
            keyed_fake.add_fault(Fault("status", status=403))
            outputs.append(await client.call_tool("hex_search", {"q": "plug"}))
            keyed_fake.reset()
        assert outputs[-2].is_error and outputs[-1].is_error
        for result in outputs:
            assert_clean(f"{backend} answer", dump(result))
    # A wrong key, as a user would misconfigure it: the error names the variable, never the value.
    wrong_env = {**env_for(keyed_fake, "oanor", tmp_path / "c2"), "OANOR_API_KEY": OANOR_KEY + "x"}
    wrong = Settings.from_env(wrong_env)
    async with Client(create_server(wrong)) as client:
        result = await client.call_tool("hex_package", {"name": "jason"})
    assert result.is_error and "OANOR_API_KEY" in dump(result)
    assert OANOR_KEY not in dump(result)
    assert_cache_dir_clean(tmp_path)


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([hex_mcp_command(), *args], env=env, capture_output=True, timeout=60, check=False)


@pytest.mark.slow
def test_cli_commands_and_snapshot(keyed_fake: FakeUpstream, tmp_path: Path) -> None:
    keyed_fake.reset()
    cache_dir = tmp_path / "cache"
    env = env_for(keyed_fake, "hexpm", cache_dir)
    snapshot = tmp_path / "snapshot.json"
    runs = [
        run_cli(["--log-level", "DEBUG", "cache", "warm", "jason", "plug"], env),
        run_cli(["cache", "stats"], env),
        run_cli(["cache", "export", str(snapshot)], env),
        run_cli(["--log-level", "DEBUG", "call", "hex_meta"], env),
        run_cli(["call", "hex_package", "name=jason", "--json"], env),
        run_cli(["doctor"], env_for(keyed_fake, "oanor", cache_dir)),
    ]
    assert runs[0].returncode == 0, runs[0].stderr
    assert runs[2].returncode == 0, runs[2].stderr
    for run in runs:
        assert_clean(f"`hex-mcp {' '.join(map(str, run.args[1:]))}` stdout", run.stdout)
        assert_clean(f"`hex-mcp {' '.join(map(str, run.args[1:]))}` stderr", run.stderr)
    assert snapshot.stat().st_size > 0
    assert_clean("snapshot", snapshot.read_bytes())
    assert_cache_dir_clean(cache_dir)


@pytest.mark.slow
def test_http_server_debug_logs(keyed_fake: FakeUpstream, tmp_path: Path) -> None:
    keyed_fake.reset()
    port = free_port()
    proc = subprocess.Popen(
        [hex_mcp_command(), "--transport", "streamable-http", "--port", str(port), "--log-level", "DEBUG"],
        env=env_for(keyed_fake, "hexpm", tmp_path / "cache"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base, proc)
        for token in (AUTH_TOKEN, AUTH_TOKEN + "-wrong"):
            sent = {**MCP_HEADERS, "authorization": f"Bearer {token}"}
            httpx2.post(f"{base}/mcp", json=INITIALIZE, headers=sent, timeout=5)
        health = httpx2.get(f"{base}/healthz", timeout=5)
        assert_clean("/healthz", health.content)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert b"DEBUG" in err
    assert_clean("http stdout", out)
    assert_clean("http stderr", err)


def assert_cache_dir_clean(root: Path) -> None:
    files = [p for p in root.rglob("*") if p.is_file()]
    for path in files:
        assert_clean(f"cache file {path.name}", path.read_bytes())
