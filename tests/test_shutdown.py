"""SIGTERM on the HTTP transports: stop accepting, let calls in flight answer within the grace period, exit 0."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from fakehex.upstream import FakeUpstream, Fault
from tests.test_e2e import free_port, hex_mcp_command, server_env
from tests.test_http_security import INITIALIZE, MCP_HEADERS, wait_for_health
from tests.test_lifecycle import ended_cleanly

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

CALL = {
    "jsonrpc": "2.0",
    "id": 2,
    "method": "tools/call",
    "params": {"name": "hex_package", "arguments": {"name": "jason"}},
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


@contextmanager
def server(
    fake: FakeUpstream, transport: str, cache_dir: Path, **env: str
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    proc = subprocess.Popen(
        [hex_mcp_command(), "--transport", transport, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**server_env(fake, "hexpm", cache_dir), **env},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_health(base, proc)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def data_lines(lines: Iterator[str]) -> Iterator[Any]:
    for line in lines:
        if line.startswith("data:") and line[5:].strip().startswith("{"):
            yield json.loads(line[5:])


def streamable_call(base: str, answers: list[Any]) -> None:
    with httpx2.Client(timeout=30) as http:
        init = http.post(f"{base}/mcp", json=INITIALIZE, headers=MCP_HEADERS)
        headers = {
            **MCP_HEADERS,
            "mcp-session-id": init.headers["mcp-session-id"],
            "mcp-protocol-version": "2025-06-18",
        }
        http.post(f"{base}/mcp", json=INITIALIZED, headers=headers)
        response = http.post(f"{base}/mcp", json=CALL, headers=headers)
        answers.extend(data_lines(iter(response.text.splitlines())))


def sse_call(base: str, answers: list[Any]) -> None:
    with httpx2.Client(timeout=30) as http, http.stream("GET", f"{base}/sse") as stream:
        lines = stream.iter_lines()
        endpoint = next(line[5:].strip() for line in lines if line.startswith("data:"))
        post = f"{base}{endpoint}"
        http.post(post, json=INITIALIZE, headers=MCP_HEADERS)
        messages = data_lines(lines)
        assert next(messages)["id"] == 1
        http.post(post, json=INITIALIZED, headers=MCP_HEADERS)
        http.post(post, json=CALL, headers=MCP_HEADERS)
        for message in messages:
            answers.append(message)
            if message.get("id") == 2:
                return


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_sigterm_lets_a_call_in_flight_answer(fake: FakeUpstream, tmp_path: Path, transport: str) -> None:
    fake.add_fault(Fault("delay", path_prefix="/api/packages/jason", seconds=1.5))
    with server(fake, transport, tmp_path) as (proc, base):
        answers: list[Any] = []
        client = threading.Thread(
            target=streamable_call if transport == "streamable-http" else sse_call, args=(base, answers)
        )
        client.start()
        deadline = time.monotonic() + 10
        while fake.count("/api/packages/jason") == 0:  # the call is waiting on the slow upstream
            assert time.monotonic() < deadline, "the call never reached the upstream"
            time.sleep(0.02)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(httpx2.TransportError):  # no longer accepting
            httpx2.get(f"{base}/healthz", timeout=1)
        client.join(timeout=10)
        ended_cleanly(proc, started)
    answer = next(a for a in answers if a.get("id") == 2)
    assert answer["result"]["content"][0]["text"].startswith("jason — ")


def test_the_grace_period_bounds_the_wait(fake: FakeUpstream, tmp_path: Path) -> None:
    fake.add_fault(Fault("delay", path_prefix="/api/packages/jason", seconds=30))
    with server(fake, "streamable-http", tmp_path, HEX_MCP_SHUTDOWN_GRACE="1", HEX_MCP_TIMEOUT="60") as (
        proc,
        base,
    ):
        answers: list[Any] = []
        client = threading.Thread(target=streamable_call, args=(base, answers), daemon=True)
        client.start()
        deadline = time.monotonic() + 10
        while fake.count("/api/packages/jason") == 0:
            assert time.monotonic() < deadline, "the call never reached the upstream"
            time.sleep(0.02)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=8)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("still running 8 s after SIGTERM with a 1 s grace period") from None
        assert proc.returncode == 0, err.decode()
        assert 1.0 <= time.monotonic() - started < 6
        assert "1 call(s) still in flight after 1 s; cutting them" in err.decode()
