"""Graceful lifecycle of the installed `hex-mcp`: SIGTERM, SIGINT and stdin EOF end it with exit code 0, no
traceback and a closed cache (SQLite removes its -wal/-shm files when the last connection closes cleanly).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx2
import pytest

from fakehex.upstream import FakeUpstream, Fault
from tests.test_e2e import free_port, hex_mcp_command, server_env
from tests.test_http_security import INITIALIZE, MCP_HEADERS, wait_for_health

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

SIGNALS = [signal.SIGTERM, signal.SIGINT]
PROMPT = 10.0  # seconds: generous for a loaded CI machine; a hang would take far longer


def send(stdin: IO[bytes], message: dict[str, Any]) -> None:
    stdin.write((json.dumps(message) + "\n").encode())
    stdin.flush()


@contextmanager
def stdio_server(fake: FakeUpstream, cache_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A `hex-mcp` on stdio that has completed the initialize handshake."""
    proc = subprocess.Popen(
        [hex_mcp_command()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=server_env(fake, "hexpm", cache_dir),
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        send(proc.stdin, {**INITIALIZE, "id": 1})
        assert json.loads(proc.stdout.readline())["id"] == 1
        send(proc.stdin, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def call(proc: subprocess.Popen[bytes], request_id: int, name: str) -> dict[str, Any]:
    assert proc.stdin is not None and proc.stdout is not None
    params = {"name": "hex_package", "arguments": {"name": name}}
    send(proc.stdin, {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params})
    answer: dict[str, Any] = json.loads(proc.stdout.readline())
    return answer


def ended_cleanly(proc: subprocess.Popen[bytes], since: float) -> str:
    """Wait for the exit, check exit code, promptness and the absence of tracebacks; returns stderr."""
    try:
        _, err = proc.communicate(timeout=PROMPT)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"still running {PROMPT} s after being asked to stop: {err.decode()}") from None
    text = err.decode()
    assert proc.returncode == 0, text
    assert time.monotonic() - since < PROMPT
    assert "Traceback" not in text, text
    assert "ERROR" not in text, text
    return text


def assert_cache_closed(cache_dir: Path) -> None:
    databases = sorted(p.name for p in cache_dir.rglob("*.db"))
    assert databases, "the cache was never opened"
    leftovers = [p.name for p in cache_dir.rglob("*") if p.name.endswith(("-wal", "-shm"))]
    assert leftovers == [], leftovers


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_stdio_signal(fake: FakeUpstream, tmp_path: Path, sig: signal.Signals) -> None:
    with stdio_server(fake, tmp_path) as proc:
        assert "result" in call(proc, 2, "jason")
        started = time.monotonic()
        proc.send_signal(sig)
        ended_cleanly(proc, started)
    assert_cache_closed(tmp_path)


def test_stdio_eof(fake: FakeUpstream, tmp_path: Path) -> None:
    with stdio_server(fake, tmp_path) as proc:
        assert "result" in call(proc, 2, "jason")
        assert proc.stdin is not None
        started = time.monotonic()
        proc.stdin.close()
        proc.stdin = None  # communicate() must not touch the closed pipe
        ended_cleanly(proc, started)
    assert_cache_closed(tmp_path)


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_stdio_signal_during_an_inflight_call(
    fake: FakeUpstream, tmp_path: Path, sig: signal.Signals
) -> None:
    """A call stuck on a slow upstream is cancelled: the process still exits at once."""
    fake.add_fault(Fault("delay", path_prefix="/api/packages/jason", seconds=30))
    with stdio_server(fake, tmp_path) as proc:
        assert proc.stdin is not None
        params = {"name": "hex_package", "arguments": {"name": "jason"}}
        send(proc.stdin, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params})
        deadline = time.monotonic() + PROMPT
        while fake.count("/api/packages/jason") == 0:  # the call has reached the upstream and hangs there
            assert time.monotonic() < deadline, "the call never reached the upstream"
            time.sleep(0.02)
        started = time.monotonic()
        proc.send_signal(sig)
        ended_cleanly(proc, started)
        assert time.monotonic() - started < 5  # far less than the 30 s the upstream would take
    assert_cache_closed(tmp_path)


@contextmanager
def http_server(
    fake: FakeUpstream, transport: str, cache_dir: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    proc = subprocess.Popen(
        [hex_mcp_command(), "--transport", transport, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=server_env(fake, "hexpm", cache_dir),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_health(base, proc)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def open_stream(base: str, transport: str, client: httpx2.Client) -> httpx2.Response:
    """Open the long-lived server-to-client event stream a connected MCP client keeps open."""
    if transport == "sse":
        response = client.send(client.build_request("GET", f"{base}/sse"), stream=True)
    else:
        init = client.post(f"{base}/mcp", json=INITIALIZE, headers=MCP_HEADERS)
        session = init.headers["mcp-session-id"]
        in_session = {"mcp-session-id": session, "mcp-protocol-version": "2025-06-18"}
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        client.post(f"{base}/mcp", json=initialized, headers={**MCP_HEADERS, **in_session})
        listen_headers = {"accept": "text/event-stream", **in_session}
        listen = client.build_request("GET", f"{base}/mcp", headers=listen_headers)
        response = client.send(listen, stream=True)
    assert response.status_code == 200
    return response


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_http_signal_with_a_connected_client(
    fake: FakeUpstream, tmp_path: Path, transport: str, sig: signal.Signals
) -> None:
    with http_server(fake, transport, tmp_path) as (proc, base), httpx2.Client(timeout=PROMPT) as client:
        stream = open_stream(base, transport, client)
        try:
            started = time.monotonic()
            proc.send_signal(sig)
            ended_cleanly(proc, started)
        finally:
            stream.close()
