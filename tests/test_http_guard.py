"""The JSON-RPC and session guards, and the connection guards, on both HTTP transports, served by uvicorn in-process
on loopback with the protocol `hex-mcp` uses. Hostile clients are raw sockets and raw HTTP; the legitimate one is
raw HTTP too, timed."""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest
import uvicorn
from anyio.abc import ObjectReceiveStream

from fakehex.upstream import FakeUpstream, Fault
from hex_mcp.config import Settings
from hex_mcp.http_app import http_app, saturation_for
from hex_mcp.http_guard import Saturation, id_keys
from hex_mcp.http_server import guarded_protocol
from hex_mcp.server import create_server
from tests.helpers import INITIALIZE, MCP_HEADERS
from tests.test_e2e import free_port

pytestmark = pytest.mark.anyio

TRANSPORTS = ["streamable-http", "sse"]
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def call(request_id: object, name: str = "jason") -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "hex_package", "arguments": {"name": name}},
    }


@dataclasses.dataclass
class Served:
    base: str
    port: int
    saturation: Saturation


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Served]:
    port = free_port()
    saturation = saturation_for(settings)
    app = http_app(create_server(settings), settings, saturation)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        http=guarded_protocol(saturation, settings.header_timeout),
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        for _ in range(1000):
            if server.started:
                break
            await anyio.sleep(0.01)
        else:
            raise AssertionError("uvicorn did not start")
        try:
            yield Served(f"http://127.0.0.1:{port}", port, saturation)
        finally:
            server.should_exit = True  # open streams get timeout_graceful_shutdown, then are cancelled


@pytest.fixture
def http_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    def make(transport: str, **overrides: Any) -> Settings:
        return dataclasses.replace(make_settings("hexpm"), transport=transport, **overrides)

    return make


def sse_payloads(text: str) -> list[Any]:
    return [
        json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:") and line[5:].strip()
    ]


class Session:
    """A raw MCP session over either transport: POSTs in, answers out, nothing hidden by a client library."""

    def __init__(self, http: httpx2.AsyncClient, base: str, transport: str) -> None:
        self.http, self.base, self.transport = http, base, transport
        self.headers = dict(MCP_HEADERS)
        self.post_url = f"{base}/mcp"
        self.answers: ObjectReceiveStream[Any] | None = None

    async def post(self, message: Any, content_type: str = "application/json") -> httpx2.Response:
        headers = {**self.headers, "content-type": content_type}
        return await self.http.post(self.post_url, content=json.dumps(message).encode(), headers=headers)

    async def ask(self, message: Any) -> Any:
        """POST a request and return its answer (from the POST on Streamable HTTP, from the stream on SSE)."""
        response = await self.post(message)
        if self.transport == "streamable-http":
            if response.headers.get("content-type", "").startswith("application/json"):
                return response.json()
            return sse_payloads(response.text)[-1]
        if response.status_code != 202:
            return response.json()
        assert self.answers is not None
        with anyio.fail_after(10):
            return await self.answers.receive()


@asynccontextmanager
async def session(base: str, transport: str, *, handshake: bool = True) -> AsyncIterator[Session]:
    async with httpx2.AsyncClient(timeout=10) as http:
        s = Session(http, base, transport)
        if transport == "streamable-http":
            response = await s.post(INITIALIZE)
            assert response.status_code == 200, response.text
            s.headers |= {
                "mcp-session-id": response.headers["mcp-session-id"],
                "mcp-protocol-version": "2025-06-18",
            }
            if handshake:
                assert (await s.post(INITIALIZED)).status_code == 202
            yield s
            return
        send, receive = anyio.create_memory_object_stream[Any](100)
        s.answers = receive
        endpoint = anyio.Event()

        async def read_stream() -> None:
            async with http.stream("GET", f"{base}/sse", headers={"accept": "text/event-stream"}) as stream:
                event = ""
                async for line in stream.aiter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event == "endpoint":
                        s.post_url = base + line[5:].strip()
                        endpoint.set()
                    elif line.startswith("data:"):
                        await send.send(json.loads(line[5:]))

        async with send, receive, anyio.create_task_group() as tg:
            tg.start_soon(read_stream)
            with anyio.fail_after(5):
                await endpoint.wait()
            await s.ask(INITIALIZE)
            if handshake:
                assert (await s.post(INITIALIZED)).status_code == 202
            yield s
            tg.cancel_scope.cancel()


def refused(answer: Any, phrase: str) -> None:
    assert answer["id"] is None and answer["error"]["code"] == -32600, answer
    assert phrase in answer["error"]["message"], answer


# -- ids and media type -----------------------------------------------------------------------------------------


def test_id_keys_cover_both_of_the_sdk_collision_domains() -> None:
    assert id_keys(1) & id_keys("1")  # the dispatcher's coerce_request_id
    assert id_keys(1) & id_keys("01")
    assert id_keys("a") == {("str", "a")}
    assert not id_keys("a") & id_keys("b")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_ids_that_are_objects_floats_or_null_get_invalid_request(
    transport: str, http_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    async with serve(http_settings(transport)) as served, session(served.base, transport) as s:
        for bad, kind in (({"a": 1}, "dict"), (1.5, "float"), (None, "null"), (True, "bool"), ([1], "list")):
            response = await s.post(call(bad))
            assert response.status_code == 400
            refused(response.json(), f"id must be a string or an integer, not {kind}")
        assert fake.count() == 0
        answer = await s.ask(call(7))  # the session still works
        assert answer["id"] == 7 and not answer["result"]["isError"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_media_type_is_case_insensitive(transport: str, http_settings: Callable[..., Settings]) -> None:
    async with serve(http_settings(transport)) as served, session(served.base, transport) as s:
        for request_id, content_type in enumerate(
            ("APPLICATION/JSON", "Application/Json; charset=UTF-8"), 10
        ):
            ping = {"jsonrpc": "2.0", "id": request_id, "method": "ping"}
            response = await s.post(ping, content_type=content_type)
            assert response.status_code in (200, 202), (content_type, response.status_code, response.text)
        response = await s.post({"jsonrpc": "2.0", "id": 4, "method": "ping"}, content_type="text/plain")
        assert response.status_code in (400, 415)


# -- every request gets its own answer --------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("second_id", [1, "1"])
async def test_a_colliding_id_in_flight_is_refused_and_answers_never_cross(
    transport: str, second_id: object, http_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    fake.add_fault(Fault("delay", "/api/packages/jason", times=1, seconds=1.0))
    async with serve(http_settings(transport)) as served, session(served.base, transport) as s:
        answers: dict[str, Any] = {}

        async def first() -> None:
            answers["first"] = await s.ask(call(1, "jason"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            await anyio.sleep(0.3)  # the first call is waiting on the slow upstream
            second = await s.post(call(second_id, "plug"))
            assert second.status_code == 400
            refused(second.json(), f"id {json.dumps(second_id)} is already used by a request in flight")
        assert answers["first"]["id"] == 1
        assert answers["first"]["result"]["content"][0]["text"].startswith("jason — ")
        again = await s.ask(call(second_id, "plug"))  # once answered, the id is free again
        assert again["id"] == second_id
        assert again["result"]["content"][0]["text"].startswith("plug — ")


# -- sessions that never finish the handshake -------------------------------------------------------------------


async def healthz(base: str) -> dict[str, Any]:
    async with httpx2.AsyncClient(timeout=5) as http:
        started = time.monotonic()
        response = await http.get(f"{base}/healthz")
        assert time.monotonic() - started < 1.0
        body: dict[str, Any] = response.json()
        assert response.status_code == (200 if body["ok"] else 503)
        return body


async def pending_at_least(base: str, count: int) -> None:
    with anyio.fail_after(5):
        # Polled over HTTP, as a monitor would: the count lives in the server.
        while (await healthz(base))["sessions"]["pending"] < count:  # noqa: ASYNC110
            await anyio.sleep(0.05)


async def legitimate_call(base: str, transport: str) -> float:
    """Seconds a legitimate client takes to connect, initialize and get an answer."""
    started = time.monotonic()
    async with session(base, transport) as s:
        answer = await s.ask(call(1))
    assert answer["result"]["content"][0]["text"].startswith("jason — ")
    return time.monotonic() - started


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_flood_of_unfinished_sessions_cannot_lock_clients_out(
    transport: str, http_settings: Callable[..., Settings]
) -> None:
    settings = http_settings(transport, max_sessions=6, max_pending_sessions=3, pending_session_ttl=1.0)
    async with serve(settings) as served, anyio.create_task_group() as flood:
        for _ in range(10):  # more than max_sessions, none of them ever sends notifications/initialized
            if transport == "streamable-http":
                async with httpx2.AsyncClient(timeout=5) as http:
                    opened = await http.post(f"{served.base}/mcp", json=INITIALIZE, headers=MCP_HEADERS)
                    assert opened.status_code == 200
            else:
                flood.start_soon(_hold_sse_stream, served.base)
        await pending_at_least(served.base, 3)  # the flood is in place
        health = await healthz(served.base)
        assert health["sessions"]["pending"] <= 3 and health["sessions"]["open"] <= 6
        assert await legitimate_call(served.base, transport) < 1.0
        await anyio.sleep(1.2)  # past pending_session_ttl: the next opening sweeps the rest
        assert await legitimate_call(served.base, transport) < 1.0
        health = await healthz(served.base)
        assert health["ok"] and health["sessions"]["pending"] <= 1
        flood.cancel_scope.cancel()  # the streams disconnect; the server winds them down before it stops
        await anyio.sleep(0.3)


async def _hold_sse_stream(base: str) -> None:
    async with (
        httpx2.AsyncClient(timeout=None) as http,
        http.stream("GET", f"{base}/sse", headers={"accept": "text/event-stream"}) as stream,
    ):
        async for _ in stream.aiter_bytes():
            pass


async def test_sse_sessions_are_capped_and_healthz_says_so(http_settings: Callable[..., Settings]) -> None:
    settings = http_settings("sse", max_sessions=2, max_pending_sessions=5, pending_session_ttl=60.0)
    async with serve(settings) as served, session(served.base, "sse"), session(served.base, "sse"):
        health = await healthz(served.base)
        assert not health["ok"] and health["saturated"] == ["sessions"]
        assert health["sessions"] == {"open": 2, "max": 2, "pending": 0, "max_pending": 5}
        async with httpx2.AsyncClient(timeout=5) as http, http.stream("GET", f"{served.base}/sse") as third:
            assert third.status_code == 503


async def test_at_the_sse_cap_a_pending_session_makes_room(http_settings: Callable[..., Settings]) -> None:
    settings = http_settings("sse", max_sessions=2, max_pending_sessions=5, pending_session_ttl=60.0)
    async with serve(settings) as served, anyio.create_task_group() as flood:
        flood.start_soon(_hold_sse_stream, served.base)
        async with session(served.base, "sse"):
            await pending_at_least(served.base, 1)
            assert await legitimate_call(served.base, "sse") < 1.0  # the unfinished one was dropped for it
        flood.cancel_scope.cancel()


# -- connections: the header deadline and the cap ---------------------------------------------------------------


def half_open(port: int, count: int) -> list[socket.socket]:
    """Slowloris: connections that start a request and never finish its headers."""
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        socks.append(sock)
    return socks


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_slowloris_is_cut_at_the_header_deadline_and_the_cap(
    transport: str, http_settings: Callable[..., Settings]
) -> None:
    settings = http_settings(transport, max_connections=8, header_timeout=1.0)
    async with serve(settings) as served:
        socks = half_open(served.port, 20)  # more than the cap
        try:
            await anyio.sleep(0.2)
            health = await healthz(served.base)
            assert health["connections"]["open"] <= 8 + 1  # the cap, plus the probe itself
            assert await legitimate_call(served.base, transport) < 1.0
            await anyio.sleep(1.3)  # past the header deadline
            assert all(closed_by_server(sock) for sock in socks)
            health = await healthz(served.base)
            assert health["ok"] and health["connections"]["open"] <= 2
        finally:
            for sock in socks:
                sock.close()


async def test_past_the_cap_with_nothing_to_evict_a_connection_gets_503(
    http_settings: Callable[..., Settings],
) -> None:
    settings = http_settings("sse", max_connections=2, max_sessions=10)
    async with serve(settings) as served, anyio.create_task_group() as streams:
        streams.start_soon(_hold_sse_stream, served.base)
        streams.start_soon(_hold_sse_stream, served.base)
        await anyio.sleep(0.3)

        def third() -> bytes:
            with socket.create_connection(("127.0.0.1", served.port)) as sock:
                sock.settimeout(2)
                return sock.recv(200)

        reply = await anyio.to_thread.run_sync(third)  # a blocking socket, off the loop the server runs on
        assert reply.startswith(b"HTTP/1.1 503 Service Unavailable")
        assert served.saturation.refused_connections == 1
        streams.cancel_scope.cancel()


def test_the_connection_cap_stays_under_the_open_file_limit() -> None:
    import resource

    from hex_mcp.http_server import FD_RESERVE, connection_cap

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert connection_cap(10) == 10
    if soft != resource.RLIM_INFINITY:
        assert connection_cap(10**9) == soft - FD_RESERVE


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_with_a_token_the_guard_reads_nothing_from_a_caller_without_one(
    transport: str, http_settings: Callable[..., Settings]
) -> None:
    from hex_mcp.config import Secret

    token = "tok-guard-test"
    async with (
        serve(http_settings(transport, auth_token=Secret(token))) as served,
        httpx2.AsyncClient() as http,
    ):
        url = (
            f"{served.base}/mcp"
            if transport == "streamable-http"
            else f"{served.base}/messages/?session_id=00"
        )
        bad = {**INITIALIZE, "id": {"a": 1}}
        assert (await http.post(url, json=bad, headers=MCP_HEADERS)).status_code == 401
        authorized = {**MCP_HEADERS, "authorization": f"Bearer {token}"}
        response = await http.post(url, json=bad, headers=authorized)
        assert response.status_code == 400
        refused(response.json(), "id must be a string or an integer, not dict")
