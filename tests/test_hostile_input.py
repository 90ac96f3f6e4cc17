"""Hostile input: no argument can steer the upstream request, and a rejected one costs no upstream call.

Property tests drive `HexService` directly (fast; the cache is off so every accepted input reaches the fake
upstream and its request can be inspected); a handful of the same inputs then go through the MCP protocol.
For every input either `InvalidInput` is raised and the fake saw nothing, or every request the fake saw
stayed on 127.0.0.1 under the backend's own routes, with no `..` segment and the search text only in the
query string.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from mcp import Client

from fakehex.upstream import FakeUpstream, Hit
from hex_mcp import validate
from hex_mcp.config import Settings
from hex_mcp.errors import HexError, InvalidInput
from hex_mcp.server import create_server
from hex_mcp.service import HexService
from hex_mcp.versions import Version

pytestmark = pytest.mark.anyio

PROPERTY = settings(
    max_examples=100,
    deadline=None,
    # The fake and the service are shared by one test's examples on purpose; each example resets the fake.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

NASTY_FRAGMENTS = [
    "..",
    "/",
    "%2F",
    "%2f",
    "%2e%2e",
    "?",
    "#",
    "&",
    "=",
    "\x00",
    "\r\n",
    "\n",
    "\t",
    " ",
    "\\",
    "@",
    ":",
    "\u0430",  # Cyrillic a
    "\u0440",  # Cyrillic er, looks like p
    "\uff50\uff48\uff4f\uff45\uff4e\uff49\uff58",  # fullwidth "phoenix"
    "\u202e",
    "\ufeff",
    "\u200b",
    "😀",
    "+",
    "%00",
    "'",
    '"',
    "<",
    ">",
    "*",
    "~>",
    "http://evil.example/",
]
WHOLE_NASTIES = [
    "",
    " ",
    "..",
    "../..",
    "../../etc/passwd",
    "phoenix/../../admin",
    "phoenix%2F..%2Fadmin",
    "phoenix?x=1",
    "phoenix#frag",
    "phoenix\x00",
    "phoenix\r\nHost: evil.example",
    "\u0440hoenix",
    "phoen\u0456x",
    "\uff50\uff48\uff4f\uff45\uff4e\uff49\uff58",
    "PHOENIX",
    " phoenix",
    "phoenix ",
    "//evil.example/x",
    "@evil.example",
    "p",
    "x" * 10_000,
    "a" * 101,
    "1.7.14/../../x",
    "1.7.14?x",
    "1.7.14#x",
    "1.7.14%2F..",
    "~> 1.7\r\n",
    "latest/..",
    "v1.2.3",
    "1.2",
]
SAFE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
VALID_NAMES = ["phoenix", "jason", "plug_cowboy", "no_such_package_xyz"]
VALID_VERSIONS = ["1.4.4", "1.7.14", "2.0.0-rc.1", "~> 1.4", ">= 1.0.0 and < 2.0.0", "latest"]


def hostile_text(seeds: list[str]) -> st.SearchStrategy[str]:
    """Arbitrary text, known nasties, and plausible values with a nasty fragment spliced in."""
    spliced = st.builds(
        lambda seed, frag, at, tail: seed[:at] + frag + seed[at:] + tail,
        st.sampled_from(seeds),
        st.sampled_from(NASTY_FRAGMENTS),
        st.integers(0, 12),
        st.text(max_size=4),
    )
    return st.one_of(st.text(max_size=60), st.sampled_from(WHOLE_NASTIES), spliced, st.sampled_from(seeds))


T = TypeVar("T")


def mostly(valid: st.SearchStrategy[T], hostile: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """Valid three times in four: with several hostile arguments at once, nearly all stop at the first."""
    return st.integers(0, 3).flatmap(lambda pick: hostile if pick == 0 else valid)


HOSTILE_INTS = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, 1, 2, 100, 101, 500, 501, 1000, 1001, 2**31, 2**63, -(2**63), 10**30]),
)


@pytest.fixture
async def service(
    fake: FakeUpstream, backend: str, make_settings: Callable[..., Settings]
) -> AsyncIterator[HexService]:
    svc = HexService(make_settings(backend, cache_enabled=False))
    try:
        yield svc
    finally:
        await svc.aclose()


GATEWAY_ROUTES = {f"/hex-api/v1/{r}" for r in ("package", "releases", "release", "search", "meta")}


def check_hits(hits: list[Hit], backend: str) -> None:
    """Every request stayed on the fake's host and under the backend's own routes."""
    for hit in hits:
        assert hit.method == "GET"
        assert hit.headers.get("host", "").split(":")[0] == "127.0.0.1", hit
        if hit.path.startswith("/repo/"):  # hex_diff's changelog: one release tarball from the repository
            assert hit.path.count("/") == 3 and hit.path.startswith("/repo/tarballs/"), hit
            assert hit.path.endswith(".tar"), hit
        elif backend == "hexpm":
            assert hit.path == "/api/packages" or hit.path.startswith("/api/packages/"), hit
        else:
            assert hit.path in GATEWAY_ROUTES, hit
        segments = hit.path.split("/")
        assert ".." not in segments and "." not in segments, hit
        assert "\x00" not in hit.path and "\r" not in hit.path and "\n" not in hit.path, hit


# hex_diff's one judgement that needs the release list: two requirements that resolve to the same version.
NEEDS_DATA = "both resolve to"


async def outcome(fake: FakeUpstream, backend: str, work: Awaitable[Any]) -> str:
    """Run one service call; 'rejected' (no upstream call) or 'sent' (safe requests only)."""
    rejection = ""
    try:
        await work
    except InvalidInput as exc:
        rejection = str(exc) if NEEDS_DATA not in str(exc) else ""
    except HexError:
        pass  # not found, no such release, ...: an upstream answer, judged by the requests below
    if rejection:
        assert fake.hits == [], f"rejected input still reached upstream: {rejection}"
        event("rejected")
        return "rejected"
    check_hits(list(fake.hits), backend)
    event("sent")  # --hypothesis-show-statistics shows how often inputs got through
    return "sent"


def package_path_names(hits: list[Hit], backend: str) -> set[str]:
    """The package names the requests were about (path segment on hex.pm, `name=` on the gateway)."""
    names = set()
    for hit in hits:
        if backend == "hexpm" and hit.path.startswith("/api/packages/"):
            names.add(hit.path.split("/")[3])
        elif backend == "oanor" and "name" in hit.query:
            names.add(hit.query["name"])
    return names


def is_valid_name(name: str) -> bool:
    try:
        validate.package_name(name)
    except InvalidInput:
        return False
    return True


@PROPERTY
@given(name=hostile_text(VALID_NAMES))
async def test_hex_package_name(service: HexService, fake: FakeUpstream, backend: str, name: str) -> None:
    fake.reset()
    result = await outcome(fake, backend, service.package(name))
    if result == "sent":
        assert is_valid_name(name)
        assert package_path_names(list(fake.hits), backend) == {name}
    else:
        assert not is_valid_name(name)


@PROPERTY
@given(
    name=mostly(st.sampled_from(VALID_NAMES), hostile_text(VALID_NAMES)),
    limit=mostly(st.integers(1, validate.RELEASES_LIMIT_MAX), HOSTILE_INTS),
    requirement=mostly(st.sampled_from([None, "~> 1.4", "< 2.0.0"]), hostile_text(VALID_VERSIONS)),
    include_prereleases=st.booleans(),
)
async def test_hex_releases(
    service: HexService,
    fake: FakeUpstream,
    backend: str,
    *,
    name: str,
    limit: int,
    requirement: str | None,
    include_prereleases: bool,
) -> None:
    fake.reset()
    result = await outcome(fake, backend, service.releases(name, limit, requirement, include_prereleases))
    if result == "sent":
        assert 1 <= limit <= validate.RELEASES_LIMIT_MAX
        assert package_path_names(list(fake.hits), backend) == {name}


@PROPERTY
@given(
    name=mostly(st.sampled_from(VALID_NAMES), hostile_text(VALID_NAMES)),
    version=mostly(st.sampled_from([None, *VALID_VERSIONS]), hostile_text(VALID_VERSIONS)),
)
async def test_hex_release(
    service: HexService, fake: FakeUpstream, backend: str, name: str, version: str | None
) -> None:
    fake.reset()
    result = await outcome(fake, backend, service.release(name, version))
    if result == "sent":
        assert package_path_names(list(fake.hits), backend) == {name}
        for hit in fake.hits:  # the version is one path segment (hex.pm) or one query value (gateway)
            if backend == "hexpm" and "/releases/" in hit.path:
                assert hit.path.count("/") == 5 and Version.parse(hit.path.rsplit("/", 1)[1])
            if backend == "oanor" and "version" in hit.query:
                assert Version.parse(hit.query["version"])


@PROPERTY
@given(
    q=hostile_text(["json", "depends:plug", "name:phx_*", "c++", "a&b=c", "50% off"]),
    page=mostly(st.integers(1, 3), HOSTILE_INTS),
    limit=mostly(st.integers(1, validate.SEARCH_LIMIT_MAX), HOSTILE_INTS),
    sort=mostly(st.sampled_from([None, *validate.SORTS]), hostile_text(list(validate.SORTS))),
)
async def test_hex_search(
    service: HexService, fake: FakeUpstream, backend: str, *, q: str, page: int, limit: int, sort: str | None
) -> None:
    fake.reset()
    result = await outcome(fake, backend, service.search(q, page, limit, sort))
    if result == "sent":
        [hit] = fake.hits
        if backend == "hexpm":
            assert hit.path == "/api/packages"
            assert hit.query["search"] == q.strip()  # the text arrives intact, and only in the query string
            assert hit.query["sort"] in validate.SORTS
        else:
            assert hit.path == "/hex-api/v1/search"
            assert hit.query["q"] == q.strip()
        assert hit.query["page"] == str(page)


@PROPERTY
@given(
    name=mostly(st.sampled_from(VALID_NAMES), hostile_text(VALID_NAMES)),
    from_version=mostly(st.sampled_from(["1.2.2", "~> 1.3", "1.0.0"]), hostile_text(VALID_VERSIONS)),
    to_version=mostly(st.sampled_from([None, "latest", "1.4.4", "~> 1.4"]), hostile_text(VALID_VERSIONS)),
)
async def test_hex_diff(
    service: HexService,
    fake: FakeUpstream,
    backend: str,
    *,
    name: str,
    from_version: str,
    to_version: str | None,
) -> None:
    fake.reset()
    result = await outcome(fake, backend, service.diff(name, from_version, to_version))
    if result == "sent":
        assert package_path_names(list(fake.hits), backend) == {name}


DEP_LINES = st.builds(
    lambda name, sep, version: f"{name}{sep}{version}",
    hostile_text(VALID_NAMES),
    st.sampled_from([" ", ": ", " ~> ", "@", "\t", ", "]),
    hostile_text(VALID_VERSIONS),
)


@settings(PROPERTY, max_examples=60)
@given(
    deps=st.one_of(
        st.lists(DEP_LINES, min_size=1, max_size=4).map("\n".join),
        st.text(max_size=200),
        st.sampled_from(WHOLE_NASTIES),
        st.builds(lambda line: '%{"' + line + '": {:hex, :x, "1.0.0"}}', hostile_text(VALID_NAMES)),
    )
)
async def test_hex_outdated(service: HexService, fake: FakeUpstream, backend: str, deps: str) -> None:
    fake.reset()
    result = await outcome(fake, backend, service.outdated(deps))
    if result == "sent":  # names come out of the parser: the path-safe shape, whatever their length
        assert all(SAFE_NAME.fullmatch(n) for n in package_path_names(list(fake.hits), backend))


# -- the same through the MCP protocol: schema validation or service validation, never an upstream call ------

PROTOCOL_REJECTS: list[tuple[str, dict[str, Any]]] = [
    ("hex_package", {"name": "../../etc/passwd"}),
    ("hex_package", {"name": "phoenix%2F..%2Fadmin"}),
    ("hex_package", {"name": "\u0440hoenix"}),  # Cyrillic er
    ("hex_package", {"name": "phoenix\r\nHost: evil.example"}),
    ("hex_package", {"name": "x" * 10_000}),
    ("hex_releases", {"name": "phoenix", "limit": -1}),
    ("hex_releases", {"name": "phoenix", "limit": 10**30}),
    ("hex_releases", {"name": "phoenix", "requirement": "~> 1.7; rm -rf /"}),
    ("hex_release", {"name": "phoenix", "version": "1.7.14/../../x"}),
    ("hex_release", {"name": "phoenix", "version": "1.7.14?x=1#y"}),
    ("hex_search", {"q": "json\x00"}),
    ("hex_search", {"q": "x" * 10_000}),
    ("hex_search", {"q": "json", "page": 0}),
    ("hex_search", {"q": "json", "limit": 2**63}),
    ("hex_search", {"q": "json", "sort": "name; DROP TABLE"}),
    ("hex_diff", {"name": "phoenix", "from_version": "../1.7.14"}),
    ("hex_outdated", {"deps": ""}),
]


REJECT_IDS = [f"{tool}-{i}" for i, (tool, _) in enumerate(PROTOCOL_REJECTS)]
REJECT_WORDS = ("validation error", "is not", "out of range", "contains", "long", "empty")


@pytest.mark.parametrize(("tool", "args"), PROTOCOL_REJECTS, ids=REJECT_IDS)
async def test_protocol_rejects_without_upstream_calls(
    fake: FakeUpstream, settings: Settings, tool: str, args: dict[str, Any]
) -> None:
    async with Client(create_server(settings)) as client:
        result = await client.call_tool(tool, args)
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "Traceback" not in text
    assert any(word in text for word in REJECT_WORDS), text
    assert fake.hits == []


async def test_protocol_search_text_is_only_a_query_parameter(fake: FakeUpstream, settings: Settings) -> None:
    q = "../../admin?x=1#frag %2F & sort=evil"
    async with Client(create_server(settings)) as client:
        result = await client.call_tool("hex_search", {"q": q})
    assert not result.is_error, result.content
    [hit] = fake.hits
    assert hit.path == "/api/packages"
    assert hit.query["search"] == q
    assert hit.query["sort"] == "recent_downloads"
