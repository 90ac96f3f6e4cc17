"""The fault matrix: every way an upstream can fail, through the MCP protocol, on both backends.

Each fault ends in an `isError` result that says what happened and what to do (or, with a cached answer, in
a stale answer with a note); the next call after the fault clears gets the right answer from upstream, which
proves the fault left nothing in the cache.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client

from fakehex.upstream import (
    DEFAULT_FIXTURES,
    FakeUpstream,
    Fault,
    gateway_json,
    gateway_package,
    gateway_release,
    hexpm_json,
)
from hex_mcp.config import Settings, TTLs
from hex_mcp.server import create_server

pytestmark = pytest.mark.anyio

JASON = json.loads((DEFAULT_FIXTURES / "packages" / "jason.json").read_text(encoding="utf-8"))
JASON_144 = json.loads((DEFAULT_FIXTURES / "releases" / "jason" / "1.4.4.json").read_text(encoding="utf-8"))
LATEST = JASON["latest_stable_version"]
TRACEBACK_MARKERS = ("Traceback", 'File "', "Exception Group", "httpx2.", "KeyError:")


def text_of(result: Any) -> str:
    text: str = result.content[0].text
    return text


def assert_explained(result: Any, *phrases: str) -> str:
    """An isError result naming the cause and the remedy, with no traceback or exception dump in it."""
    assert result.is_error, text_of(result)
    text = text_of(result)
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not in {text!r}"
    for marker in TRACEBACK_MARKERS:
        assert marker not in text, text
    return text


def assert_jason(result: Any) -> None:
    assert not result.is_error, text_of(result)
    assert text_of(result).startswith("jason — ")
    assert result.structured_content["latest_stable_version"] == LATEST


def gateway_envelope(data: Any) -> bytes:
    return gateway_json({"data": data, "meta": {}, "status": "ok", "message": "ok", "success": True})


@dataclass(frozen=True)
class Case:
    """One fault: how to inject it, what the error must say per backend, how many upstream hits it costs."""

    id: str
    fault: Callable[[FakeUpstream], Fault]
    phrases: dict[str, tuple[str, ...]]
    hits: int = 1
    timeout: float = 5.0
    stale: bool = True  # a cached answer may stand in (retryable failures only)
    gateway: bool = True  # False: the failure is below the backend mapping, so one backend proves it

    def phrases_for(self, backend: str) -> tuple[str, ...]:
        return self.phrases.get(backend) or self.phrases["any"]


def _redirect_elsewhere(fake: FakeUpstream) -> Fault:
    # Another host name for the same fake: if the client followed the redirect, the fake would record a hit
    # with `Host: localhost`, and the answer would be about phoenix.
    port = fake.url.rsplit(":", 1)[1]
    return Fault("redirect", location=f"http://localhost:{port}/api/packages/phoenix")


HEXPM_ONLY = {"gateway": False}
CASES = [
    Case("400", lambda f: Fault("status", status=400), {"any": ("HTTP 400", "Check the arguments")}),
    Case(
        "401",
        lambda f: Fault("status", status=401),
        {"hexpm": ("HTTP 401", "HEX_API_KEY"), "oanor": ("HTTP 401", "Set OANOR_API_KEY to a valid key")},
        stale=False,
    ),
    Case(
        "402",
        lambda f: Fault("status", status=402),
        {"hexpm": ("HTTP 402", "Check HEX_MCP_BASE_URL"), "oanor": ("HTTP 402", "Check the plan")},
        stale=False,
    ),
    Case("403", lambda f: Fault("status", status=403), {"any": ("HTTP 403", "check the key")}, stale=False),
    Case(
        "404",
        lambda f: Fault("status", status=404),
        {"any": ("No package 'jason' on Hex", "hex_search")},
        stale=False,
    ),
    Case(
        "429-headers",
        lambda f: Fault("ratelimited", seconds=1),
        {"hexpm": ("HTTP 429", "retry after", "HEX_API_KEY"), "oanor": ("HTTP 429", "retry after")},
    ),
    Case("429-bare", lambda f: Fault("ratelimited_bare"), {"any": ("HTTP 429", "retry in a minute")}),
    Case("500", lambda f: Fault("status", status=500), {"any": ("HTTP 500", "Try again")}, gateway=False),
    # 502/503/504 are retried (retries=2: three hits); a plain 500 is not.
    Case("502", lambda f: Fault("status", status=502), {"any": ("HTTP 502", "Try")}, hits=3, **HEXPM_ONLY),
    Case("503", lambda f: Fault("status", status=503), {"any": ("HTTP 503", "Try")}, hits=3),
    Case("504", lambda f: Fault("status", status=504), {"any": ("HTTP 504", "Try")}, hits=3, **HEXPM_ONLY),
    Case(
        "read-timeout",
        lambda f: Fault("delay", seconds=3),
        {"any": ("did not answer within 0.5 s", "raise HEX_MCP_TIMEOUT")},
        timeout=0.5,
    ),
    Case(
        "stall-mid-body",
        lambda f: Fault("stall_body", seconds=4),
        {"any": ("did not answer within 1 s", "Try again")},
        timeout=1.0,
        **HEXPM_ONLY,
    ),
    Case("malformed-json", lambda f: Fault("malformed"), {"any": ("malformed JSON", "Try again later")}),
    Case(
        "truncated",
        lambda f: Fault("truncated"),
        {"any": ("broke off its answer", "Try again")},
        hits=3,
        **HEXPM_ONLY,
    ),
    Case("dropped", lambda f: Fault("drop"), {"any": ("unreachable", "Check the network")}, 3, gateway=False),
    Case(
        "wrong-shape",
        lambda f: Fault("wrong_shape", body={"unexpected": True}),
        {"hexpm": ("expected shape", "Try again later"), "oanor": ("envelope", "Try again later")},
    ),
    Case("oversized", lambda f: Fault("oversized"), {"any": ("byte cap", "not read", "Try again later")}),
    Case(
        "oversized-chunked",
        lambda f: Fault("oversized", chunked=True),
        {"any": ("larger than the 10,485,760-byte cap", "Try again later")},
        **HEXPM_ONLY,
    ),
    Case("redirect", _redirect_elsewhere, {"any": ("redirect (HTTP 302)", "not followed", "BASE_URL")}),
]
MATRIX = [(b, c) for c in CASES for b in ("hexpm", "oanor") if b == "hexpm" or c.gateway]


@pytest.fixture(autouse=True)
def no_backoff_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries still happen (and are counted); only the random pause between them is skipped."""
    monkeypatch.setattr("hex_mcp.upstream.random.uniform", lambda low, high: 0.0)


def settings_for(make_settings: Callable[..., Settings], backend: str, **overrides: Any) -> Settings:
    return make_settings(backend, retries=2, **overrides)


@pytest.mark.parametrize(("backend", "case"), MATRIX, ids=[f"{b}-{c.id}" for b, c in MATRIX])
async def test_fault_is_explained_and_the_next_call_works(
    backend: str, case: Case, fake: FakeUpstream, make_settings: Callable[..., Settings]
) -> None:
    # A real 404 is remembered on purpose (tests/test_not_found_memo.py); here every fault must clear at once.
    settings = settings_for(make_settings, backend, timeout=case.timeout, not_found_ttl=0)
    async with Client(create_server(settings)) as client:
        fake.add_fault(case.fault(fake))
        started = time.monotonic()
        result = await client.call_tool("hex_package", {"name": "jason"})
        elapsed = time.monotonic() - started
        assert_explained(result, *case.phrases_for(backend))
        assert fake.count() == case.hits
        assert all(hit.headers.get("host", "").startswith("127.0.0.1") for hit in fake.hits)
        assert elapsed < case.timeout + 4  # generous: the deadline bounds every case, retries included

        fake.reset()  # the fault clears; nothing about it may have been cached
        assert_jason(await client.call_tool("hex_package", {"name": "jason"}))
        assert fake.count() == 1  # a real upstream read, not a cached leftover of the fault


GATEWAY_FEW = ("429-headers", "503", "wrong-shape")
STALE = [(b, c) for c in CASES if c.stale for b in ("hexpm", "oanor") if b == "hexpm" or c.id in GATEWAY_FEW]


@pytest.mark.parametrize(("backend", "case"), STALE, ids=[f"{b}-{c.id}" for b, c in STALE])
async def test_stale_answer_when_the_refresh_fails(
    backend: str, case: Case, fake: FakeUpstream, make_settings: Callable[..., Settings]
) -> None:
    """The fetch pipeline is shared by both backends: the gateway runs a sample of the faults."""
    settings = settings_for(make_settings, backend, timeout=case.timeout, ttls=TTLs.uniform(0))
    async with Client(create_server(settings)) as client:
        assert_jason(await client.call_tool("hex_package", {"name": "jason"}))
        fake.add_fault(case.fault(fake))
        result = await client.call_tool("hex_package", {"name": "jason"})
        assert_jason(result)
        last = text_of(result).splitlines()[-1]
        assert "STALE cache" in last and "live call failed: " in last, last
        fake.reset()
        fresh = await client.call_tool("hex_package", {"name": "jason"})
        assert_jason(fresh)
        if not case.id.startswith("429"):  # after a 429 the window stays closed until the announced reset
            assert "STALE" not in text_of(fresh)


@pytest.mark.parametrize("case", [c for c in CASES if not c.stale], ids=[c.id for c in CASES if not c.stale])
async def test_no_stale_answer_hides_a_client_side_problem(
    case: Case, fake: FakeUpstream, make_settings: Callable[..., Settings]
) -> None:
    """A rejected key, an unpaid plan or a vanished package must be said, not papered over with old data."""
    settings = settings_for(make_settings, "hexpm", ttls=TTLs.uniform(0))
    async with Client(create_server(settings)) as client:
        assert_jason(await client.call_tool("hex_package", {"name": "jason"}))
        fake.add_fault(case.fault(fake))
        assert_explained(await client.call_tool("hex_package", {"name": "jason"}), *case.phrases_for("hexpm"))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again when the socket is: nothing listens there


async def test_connect_refused(tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{closed_port()}/api"
    settings = Settings(cache_dir=tmp_path / "cache", base_url=base, retries=2, timeout=5.0)
    async with Client(create_server(settings)) as client:
        started = time.monotonic()
        result = await client.call_tool("hex_package", {"name": "jason"})
        assert time.monotonic() - started < 4
        assert_explained(result, "hex.pm is unreachable (ConnectError)", "HEX_MCP_BASE_URL")
        meta = await client.call_tool("hex_meta", {})
        assert meta.structured_content is not None
        assert meta.structured_content["upstream_calls_month"] == 0  # three tries, none reached the upstream


class Switchable:
    """An httpx2 transport that raises `error` while set, else answers like hex.pm; counts every request."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.requests: list[httpx2.Request] = []

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return httpx2.Response(200, content=hexpm_json(JASON), headers={"content-type": "application/json"})


async def test_connect_timeout(tmp_path: Path) -> None:
    upstream = Switchable(httpx2.ConnectTimeout("connect timed out"))
    settings = Settings(cache_dir=tmp_path / "cache", retries=2, timeout=5.0)
    server = create_server(settings, http_transport=httpx2.MockTransport(upstream.handler))
    async with Client(server) as client:
        result = await client.call_tool("hex_package", {"name": "jason"})
        assert_explained(result, "hex.pm timed out (ConnectTimeout)", "Try again shortly")
        assert len(upstream.requests) == 3
        upstream.error = None
        assert_jason(await client.call_tool("hex_package", {"name": "jason"}))
        assert len(upstream.requests) == 4


async def test_stale_answer_when_the_network_is_gone(tmp_path: Path) -> None:
    upstream = Switchable(None)
    settings = Settings(cache_dir=tmp_path / "cache", retries=2, timeout=5.0, ttls=TTLs.uniform(0))
    server = create_server(settings, http_transport=httpx2.MockTransport(upstream.handler))
    async with Client(server) as client:
        assert_jason(await client.call_tool("hex_package", {"name": "jason"}))
        upstream.error = httpx2.ConnectError("connection refused")
        stale = await client.call_tool("hex_package", {"name": "jason"})
        assert_jason(stale)
        assert "STALE cache" in text_of(stale) and "hex.pm is unreachable (ConnectError)" in text_of(stale)


async def test_redirect_is_not_followed_for_any_status(
    fake: FakeUpstream, make_settings: Callable[..., Settings]
) -> None:
    port = fake.url.rsplit(":", 1)[1]
    async with Client(create_server(make_settings("hexpm", cache_enabled=False))) as client:
        for status in (301, 302, 303, 307, 308):
            fake.reset()
            elsewhere = f"http://localhost:{port}/api/packages/plug"
            fake.add_fault(Fault("redirect", status=status, location=elsewhere))
            result = await client.call_tool("hex_package", {"name": "jason"})
            assert_explained(result, f"HTTP {status}", "not followed")
            assert [hit.path for hit in fake.hits] == ["/api/packages/jason"]


# -- valid JSON of the wrong shape ------------------------------------------------------------------------

ODD_VALUES: list[Any] = [None, -1, "x", [None], {"": None}]
# Keyed by names or versions: an extra key there is data, not an unknown field.
DATA_MAPS = frozenset({"requirements", "retirements", "links"})


def _mutations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Each top-level field removed, and replaced by each odd value; plus `meta`'s fields the same way."""
    out: list[tuple[str, dict[str, Any]]] = []
    for key in doc:
        removed = {k: v for k, v in doc.items() if k != key}
        out.append((f"-{key}", removed))
        for value in ODD_VALUES:
            out.append((f"{key}={value!r}", {**doc, key: value}))
    meta = doc.get("meta")
    if isinstance(meta, dict):
        for key in meta:
            for value in (None, [1]):
                out.append((f"meta.{key}={value!r}", {**doc, "meta": {**meta, key: value}}))
    return out


def _with_extras(doc: Any) -> Any:
    """The same document with unknown fields added at every object level."""
    if isinstance(doc, dict):
        fields = {k: v if k in DATA_MAPS else _with_extras(v) for k, v in doc.items()}
        return {**fields, "zz_unknown": {"nested": [1, "two", None]}}
    if isinstance(doc, list):
        return [_with_extras(item) for item in doc]
    return doc


def _body(backend: str, endpoint: str, doc: dict[str, Any]) -> bytes:
    if backend == "hexpm":
        return hexpm_json(doc)
    return gateway_envelope({"package": doc} if endpoint == "package" else {"release": doc})


def _document(backend: str, endpoint: str) -> dict[str, Any]:
    if endpoint == "package":
        return copy.deepcopy(JASON) if backend == "hexpm" else gateway_package(copy.deepcopy(JASON))
    release = copy.deepcopy(JASON_144)
    return release if backend == "hexpm" else gateway_release("jason", release)


CALLS = {
    "package": ("hex_package", {"name": "jason"}),
    "release": ("hex_release", {"name": "jason", "version": "1.4.4"}),
}


@pytest.mark.parametrize("endpoint", ["package", "release"])
async def test_wrong_shapes_answer_or_explain(
    endpoint: str, backend: str, fake: FakeUpstream, make_settings: Callable[..., Settings]
) -> None:
    """Missing fields and wrong types: a (possibly thinner) answer or a clear error, never a crash."""
    tool, args = CALLS[endpoint]
    async with Client(create_server(make_settings(backend, cache_enabled=False))) as client:
        for label, doc in _mutations(_document(backend, endpoint)):
            fake.reset()
            fake.add_fault(Fault("wrong_shape", body=_body(backend, endpoint, doc)))
            result = await client.call_tool(tool, args)
            text = text_of(result)
            if result.is_error:
                assert "did not have the expected shape" in text, (label, text)
                assert "Try again later" in text, (label, text)
            else:
                assert text.strip(), label
            for marker in TRACEBACK_MARKERS:
                assert marker not in text, (label, text)
        fake.reset()
        assert not (await client.call_tool(tool, args)).is_error


@pytest.mark.parametrize("endpoint", ["package", "release"])
async def test_extra_fields_still_answer(
    endpoint: str, backend: str, fake: FakeUpstream, make_settings: Callable[..., Settings]
) -> None:
    tool, args = CALLS[endpoint]
    async with Client(create_server(make_settings(backend, cache_enabled=False))) as client:
        plain = await client.call_tool(tool, args)
        doc = _with_extras(_document(backend, endpoint))
        fake.add_fault(Fault("wrong_shape", body=_body(backend, endpoint, doc)))
        extra = await client.call_tool(tool, args)
    assert not extra.is_error, text_of(extra)
    assert text_of(extra) == text_of(plain)
    assert extra.structured_content is not None and plain.structured_content is not None
    extra.structured_content.pop("freshness", None)  # stamped with the fetch time, a second apart at most
    plain.structured_content.pop("freshness", None)
    assert extra.structured_content == plain.structured_content


async def test_a_wrong_shape_never_replaces_a_good_cache_entry(
    fake: FakeUpstream, make_settings: Callable[..., Settings]
) -> None:
    settings = dataclasses.replace(make_settings("hexpm"), ttls=TTLs.uniform(0))
    async with Client(create_server(settings)) as client:
        assert_jason(await client.call_tool("hex_package", {"name": "jason"}))
        odd = {"name": "jason", "releases": "not a list", "meta": 7}
        fake.add_fault(Fault("wrong_shape", body=odd, times=1))
        assert "STALE cache" in text_of(await client.call_tool("hex_package", {"name": "jason"}))
        fake.add_fault(Fault("status", status=503))
        stale_again = await client.call_tool("hex_package", {"name": "jason"})
        assert_jason(stale_again)  # the entry that answers is still the good one
        assert "STALE cache" in text_of(stale_again)
