"""hex_diff's changelog part, through the MCP protocol: release tarballs served over HTTP by the fake upstream,
verified against the API's checksum (registry off) or the signed registry's (auto), in every heading style, and
hostile tarballs that must each end in one clear note while the rest of the answer still comes.

The changelog texts are fakehex.changelogs' own; hostile tarballs are built here (fakehex.tarballs).
"""

from __future__ import annotations

import dataclasses
import functools
import io
import sqlite3
import tarfile
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp import Client

from fakehex import changelogs
from fakehex.tarballs import Entry, gzip, hex_tarball, many_members_tar, zero_member_gz
from fakehex.upstream import FakeUpstream, Fault
from hex_mcp import tokens as product_tokens
from hex_mcp.config import Secret, Settings, TTLs
from hex_mcp.server import create_server
from tests.helpers import _o200k, text_of, tokens

pytestmark = pytest.mark.anyio


# (HEX_MCP_REGISTRY, client era): checksums from the API's release documents with the in-process client, and
# from the signed registry with the JSON-RPC handshake, so each checksum source and each era is met.
COMBOS = [("off", "auto"), ("auto", "legacy")]


@pytest.fixture(params=COMBOS, ids=["registry-off-auto", "registry-auto-legacy"])
def combo(request: pytest.FixtureRequest) -> tuple[str, str]:
    value: tuple[str, str] = request.param
    return value


@pytest.fixture
def no_disk_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test runs in an empty cwd with an empty private temp dir, both still empty afterwards."""
    cwd, temp = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    temp.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    for name in ("TMPDIR", "TEMP", "TMP"):
        monkeypatch.setenv(name, str(temp))
    yield
    assert list(cwd.iterdir()) == []
    assert list(temp.iterdir()) == []
    assert not (tmp_path / "CHANGELOG.md").exists()


@pytest.fixture
async def cl_client(make_settings: Callable[..., Settings], combo: tuple[str, str]) -> AsyncIterator[Client]:
    registry, mode = combo
    async with Client(create_server(make_settings("hexpm", registry=registry)), mode=mode) as c:  # type: ignore[arg-type]
        yield c


async def call(client: Client, **args: Any) -> tuple[str, dict[str, Any]]:
    result = await client.call_tool("hex_diff", args)
    assert result.is_error is False, result.content
    assert result.structured_content is not None
    return text_of(result), result.structured_content["changelog"]


def part_of(text: str) -> str:
    """The changelog part: from its first line to the line before the source line."""
    start = text.index("\nchangelog") + 1
    return text[start : text.rindex("\nsource: ")]


# -- every heading style -------------------------------------------------------------------------------------

STYLES: list[tuple[str, str, str, str, list[tuple[str, str | None]]]] = [
    # name, from, to, file, [(version, date)] newest first; one package per heading style
    (
        "quillmark",
        "1.7.0",
        "1.8.0",
        "CHANGELOG.md",
        [("1.8.0", "2025-08-05"), ("1.7.2", "2025-05-19"), ("1.7.1", "2025-03-02")],
    ),
    (
        "brightwire",
        "1.7.2",
        "1.8.1",
        "CHANGELOG.md",
        [
            ("1.8.1", "2025-08-28"),
            ("1.8.0", "2025-08-05"),
            ("1.8.0-rc.0", "2025-07-10"),
            ("1.7.3", "2025-04-22"),
        ],
    ),
    ("tidepool", "1.8.0", "2.1.0", "CHANGELOG.md", [("2.1.0", None), ("2.0.0", None), ("1.9.0", None)]),
    ("mossgate", "0.4.0", "0.5.0", "CHANGES.md", [("0.5.0", None), ("0.4.1", None)]),
    (
        "emberline",
        "1.4.2",
        "2.0.0-rc.1",
        "CHANGELOG.md",
        [("2.0.0-rc.1", "2025-09-12"), ("2.0.0-rc.0", "2025-08-30")],
    ),
    (
        "larkspur",
        "3.1.0",
        "3.2.0",
        "HISTORY.md",
        [("3.2.0", "2025-07-21"), ("3.1.1", "2025-05-06")],
    ),
    ("fernvale", "0.8.1", "0.9.0", "CHANGELOG.md", [("0.9.0", None), ("0.8.2", "2025-04-04")]),
]


async def test_every_heading_style(cl_client: Client, fake: FakeUpstream) -> None:
    for name, low, high, file, expected in STYLES:
        text, part = await call(cl_client, name=name, from_version=low, to_version=high)
        assert part["status"] == "shown", name
        assert [(s["version"], s["date"]) for s in part["sections"]] == expected
        assert all(s["complete"] and s["text"] for s in part["sections"])
        assert (part["file"], part["read_from"], part["after"], part["omitted"]) == (file, high, low, [])
        noun = "entry" if len(expected) == 1 else "entries"
        assert f"\nchangelog ({file} of {high}) · {len(expected)} {noun} after {low}:\n" in text
        assert text.startswith(f"{name} {low} → {high}")  # the metadata diff still leads
        assert fake.count(f"/repo/tarballs/{name}-{high}.tar") == 1
    meta = text_of(await cl_client.call_tool("hex_meta", {}))
    assert f"changelog tarballs: {len(STYLES)} fetched, 0 refused" in meta


KEEP_A_CHANGELOG_PART = """\
changelog (CHANGELOG.md of 1.8.0) · 3 entries after 1.7.0:
## 1.8.0 (2025-08-05)
### Breaking
- `Quillmark.render/2` now returns `{:ok, html}` or `{:error, reason}` instead of raising.
- Dropped support for Elixir 1.13 and 1.14.

### Added
- Footnote syntax (`[^1]`) in the default dialect.
- `:smart_quotes` option.

### Deprecated
- `Quillmark.render!/2` is deprecated in favour of pattern matching on `render/2`.

### Security
- Link targets with a `javascript:` scheme are now stripped (reported privately, no CVE assigned).

## 1.7.2 (2025-05-19)
### Fixed
- Nested lists lost their indentation after a code block.
- Tables with a trailing pipe rendered an empty column.

## 1.7.1 (2025-03-02)
### Fixed
- Crash on headings made only of whitespace."""


async def test_exact_text_and_structured_sections(cl_client: Client) -> None:
    text, part = await call(cl_client, name="quillmark", from_version="1.7.0", to_version="1.8.0")
    assert part_of(text) == KEEP_A_CHANGELOG_PART
    assert part["sections"][2] == {
        "version": "1.7.1",
        "date": "2025-03-02",
        "text": "### Fixed\n- Crash on headings made only of whitespace.",
        "complete": True,
    }
    assert (part["complete"], part["full_tokens"], part["max_tokens"]) == (True, tokens(part_of(text)), 1200)
    assert "text" not in part  # the entries travel once, in `sections`


async def test_a_cut_keeps_breaking_deprecated_removed_and_security_first(cl_client: Client) -> None:
    text, part = await call(cl_client, name="quillmark", from_version="1.6.0", max_tokens=250)
    assert part_of(text) == (
        "changelog (CHANGELOG.md of 1.8.0) · 4 entries after 1.6.0:\n"
        "## 1.8.0 (2025-08-05)\n"
        "### Breaking\n"
        "- `Quillmark.render/2` now returns `{:ok, html}` or `{:error, reason}` instead of raising.\n"
        "- Dropped support for Elixir 1.13 and 1.14.\n"
        "\n"
        "### Deprecated\n"
        "- `Quillmark.render!/2` is deprecated in favour of pattern matching on `render/2`.\n"
        "\n"
        "### Security\n"
        "- Link targets with a `javascript:` scheme are now stripped (reported privately, no CVE assigned).\n"
        "[+3 lines not shown]\n"
        "\n"
        "## 1.7.0 (2025-01-14)\n"
        "### Removed\n"
        "- The `:legacy_tables` option, deprecated since 1.5.0.\n"
        "[+2 lines not shown]\n"
        "\n"
        "+2 sections not shown (1.7.2, 1.7.1), 2 shortened; call hex_diff with a narrower range or "
        "max_tokens=285 to see all."
    )
    assert tokens(part_of(text)) <= 250
    assert (part["complete"], part["omitted"], part["full_tokens"]) == (False, ["1.7.2", "1.7.1"], 285)
    assert [(s["version"], s["complete"]) for s in part["sections"]] == [("1.8.0", False), ("1.7.0", False)]
    # The number the note gives is enough to see everything.
    again, whole = await call(cl_client, name="quillmark", from_version="1.6.0", max_tokens=285)
    assert whole["complete"] is True
    assert tokens(part_of(again)) <= 285


async def test_the_part_never_exceeds_max_tokens(make_settings: Callable[..., Settings]) -> None:
    async with Client(create_server(make_settings("hexpm"))) as c:  # type: ignore[arg-type]
        for name, low in (("quillmark", "1.6.0"), ("brightwire", "1.7.2"), ("emberline", "1.4.2")):
            for budget in (100, 120, 200, 400, 1200):
                text, part = await call(c, name=name, from_version=low, max_tokens=budget)
                assert tokens(part_of(text)) <= budget, part_of(text)
                if not part["complete"]:
                    assert "call hex_diff with" in part_of(text)


async def test_downgrade_shows_what_the_newer_release_brought(cl_client: Client) -> None:
    _, part = await call(cl_client, name="larkspur", from_version="3.2.0", to_version="3.1.0")
    assert (part["read_from"], part["after"]) == ("3.2.0", "3.1.0")
    assert [s["version"] for s in part["sections"]] == ["3.2.0", "3.1.1"]


@pytest.mark.parametrize("registry", ["off", "auto"])
async def test_gateway_backend_verifies_against_its_checksum(
    make_settings: Callable[..., Settings], registry: str
) -> None:
    async with Client(create_server(make_settings("oanor", registry=registry))) as c:  # type: ignore[arg-type]
        _, part = await call(c, name="brightwire", from_version="1.8.0", to_version="1.8.1")
    assert [s["version"] for s in part["sections"]] == ["1.8.1"]


async def test_thousands_of_entries_in_range_are_capped_at_the_newest_200(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    entries = "\n".join(f"## 2.0.{n}\n- Security: fix number {n}.\n" for n in range(3000, 0, -1))
    fake.set_tarball("tidepool", "2.1.0", hex_tarball({"CHANGELOG.md": f"## 2.1.0\n- Latest.\n\n{entries}"}))
    async with Client(create_server(make_settings("hexpm"))) as c:  # type: ignore[arg-type]
        text, part = await call(c, name="tidepool", from_version="2.0.0", to_version="2.1.0", max_tokens=300)
    assert part_of(text).startswith(
        "changelog (CHANGELOG.md of 2.1.0) · newest 200 entries after 2.0.0 (older ones: call hex_diff with "
        "to_version=2.0.2801):\n## 2.0.3000\n"  # security notes first: 2.1.0's one line is not one
    )
    assert part["older"] == "2.0.2801"
    assert len(part["sections"]) + len(part["omitted"]) == 200
    assert tokens(part_of(text)) <= 300


# -- no changelog to show ------------------------------------------------------------------------------------


NO_CHANGELOG: list[tuple[dict[str, Any], str]] = [
    (
        {"name": "plainpack", "from_version": "1.0.0"},
        "changelog: not shown — This release ships no changelog file (looked for CHANGELOG.md, CHANGELOG, "
        "CHANGES.md, HISTORY.md, NEWS.md and similar at the package root and in doc/, docs/, guides/) · see "
        "GitHub: https://github.com/plainpack/plainpack",
    ),
    (
        {"name": "driftwood", "from_version": "0.1.0"},
        "changelog: not shown — NEWS.md has no version heading this server can read (such as '## 1.8.0') · "
        "see Changelog: https://github.com/driftwood-ex/driftwood/blob/main/NEWS.md",
    ),
    (
        {"name": "jason", "from_version": "1.4.3"},
        "changelog: not shown — the Hex repository has no tarball for jason 1.4.4 · see GitHub: "
        "https://github.com/michalmuskala/jason",
    ),
]


async def test_no_changelog_says_why_and_links_to_one(cl_client: Client) -> None:
    for args, line in NO_CHANGELOG:
        text, part = await call(cl_client, **args)
        assert part_of(text) == line
        assert part["sections"] == []
        assert part["link"] == line.rsplit(": ", 1)[1]


async def test_empty_range_when_the_changelog_stops_early(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    fake.set_tarball("tidepool", "2.1.0", hex_tarball({"CHANGELOG.md": "# 1.9.0\n\n- Older news only.\n"}))
    async with Client(create_server(make_settings("hexpm"))) as c:  # type: ignore[arg-type]
        text, part = await call(c, name="tidepool", from_version="2.0.0")
    assert part["status"] == "empty_range"
    assert part_of(text) == (
        "changelog: not shown — CHANGELOG.md has no entry after 2.0.0 up to 2.1.0 (its newest entry is 1.9.0) · "
        "see GitHub: https://github.com/tidepool-ex/tidepool"
    )


# -- hostile tarballs ----------------------------------------------------------------------------------------


@functools.cache
def hostile(kind: str) -> bytes:
    if kind == "gzip-bomb":  # 32 MiB of zeros in 32 KB
        return hex_tarball(contents_gz=zero_member_gz("big.bin", 32 * 1024 * 1024))
    if kind == "path-traversal":
        return hex_tarball([Entry("../CHANGELOG.md", b"## 9.9.9\n- HOSTILE-MARKER\n")])
    if kind == "symlink":
        return hex_tarball([Entry("CHANGELOG.md", kind=tarfile.SYMTYPE, linkname="/etc/passwd")])
    if kind == "100000-members":
        return hex_tarball(contents_gz=gzip(many_members_tar(100_000)))
    if kind == "20-mb-changelog":
        return hex_tarball(
            {"CHANGELOG.md": b"- HOSTILE-MARKER line of release notes\n" * (20 * 1024 * 1024 // 39)}
        )
    assert kind == "not-a-tar"
    return b"<html><body>HOSTILE-MARKER 200 OK from a captive portal</body></html>\n" * 40


HOSTILE = {
    "gzip-bomb": "The release's contents.tar.gz ({gz} bytes) inflates to over 200 times its size, which only a "
    "decompression bomb does; reading stopped",
    "path-traversal": "This release ships no changelog file (looked for CHANGELOG.md, CHANGELOG, CHANGES.md, "
    "HISTORY.md, NEWS.md and similar at the package root and in doc/, docs/, guides/)",
    "symlink": "This release ships no changelog file (looked for CHANGELOG.md, CHANGELOG, CHANGES.md, HISTORY.md, "
    "NEWS.md and similar at the package root and in doc/, docs/, guides/)",
    "100000-members": "The release holds more than 20000 files, over what this server reads; its changelog cannot "
    "be shown",
    "20-mb-changelog": "The release's CHANGELOG.md is 20.0 MB, over the 2.0 MB this server reads",
    "not-a-tar": "The release file is not a tar archive (invalid header); it cannot be a Hex package",
}


def _contents_gz_size(tarball: bytes) -> int:
    with tarfile.open(fileobj=io.BytesIO(tarball)) as outer:
        return outer.getmember("contents.tar.gz").size


# Each hostile tarball replaces a different release, so one server meets them all in turn.
TARGETS = {
    "gzip-bomb": ("quillmark", "1.6.0", "1.7.0"),
    "path-traversal": ("quillmark", "1.7.0", "1.7.1"),
    "symlink": ("quillmark", "1.7.1", "1.7.2"),
    "100000-members": ("quillmark", "1.7.2", "1.8.0"),
    "20-mb-changelog": ("brightwire", "1.7.3", "1.8.0"),
    "not-a-tar": ("brightwire", "1.8.0", "1.8.1"),
}
LINKS = {
    "quillmark": "Changelog: https://hexdocs.pm/quillmark/changelog.html",
    "brightwire": "GitHub: https://github.com/brightwire/brightwire",
}


@pytest.mark.usefixtures("no_disk_writes")
async def test_hostile_tarballs_give_one_note_each_and_the_rest_of_the_answer(
    make_settings: Callable[..., Settings], fake: FakeUpstream, combo: tuple[str, str]
) -> None:
    registry, mode = combo
    for kind, (name, _, version) in TARGETS.items():
        fake.set_tarball(name, version, hostile(kind))  # published with its own checksum: verification passes
    settings = make_settings("hexpm", registry=registry)
    async with Client(create_server(settings), mode=mode) as c:  # type: ignore[arg-type]
        for kind, (name, low, high) in TARGETS.items():
            text, part = await call(c, name=name, from_version=low, to_version=high)
            gz = _contents_gz_size(hostile(kind)) if kind == "gzip-bomb" else 0
            assert (
                part_of(text) == f"changelog: not shown — {HOSTILE[kind].format(gz=gz)} · see {LINKS[name]}"
            )
            assert (part["status"], part["sections"]) == ("unavailable", []), kind
            assert f"code diff: https://diff.hex.pm/diff/{name}/{low}..{high}\n" in text, kind
            assert "deps: none\n" in text, kind
    assert fake.count("/repo/tarballs/") == len(TARGETS)
    assert_cache_holds_no_tarball(settings.cache_dir)


def assert_cache_holds_no_tarball(cache_dir: Path) -> None:
    """The cache keeps what was read (or why not), never the archive's bytes or any file from it."""
    files = sorted(p.relative_to(cache_dir).as_posix() for p in cache_dir.rglob("*") if p.is_file())
    assert all(f == "FORMAT" or f.split("/")[1].startswith("cache.db") for f in files), files
    with sqlite3.connect(cache_dir / "responses" / "cache.db") as db:
        values = [row[0] for row in db.execute("SELECT value FROM Cache")]
    # "ustar" is the magic of every tar header: no archive, whole or in part, is kept.
    assert not any("HOSTILE-MARKER" in str(v) or "ustar" in str(v) for v in values)


@pytest.mark.parametrize("registry", ["off", "auto"])
async def test_checksum_mismatch_reads_nothing_and_is_asked_again(
    make_settings: Callable[..., Settings], fake: FakeUpstream, registry: str
) -> None:
    honest = changelogs.checksum("quillmark", "1.8.0")
    altered = hex_tarball({"CHANGELOG.md": "## 1.8.0\n- HOSTILE-MARKER: trust me\n"})
    fake.set_tarball("quillmark", "1.8.0", altered, checksum=honest)
    settings = make_settings("hexpm", registry=registry)
    async with Client(create_server(settings)) as c:  # type: ignore[arg-type]
        for _ in range(2):
            text, _ = await call(c, name="quillmark", from_version="1.7.0", to_version="1.8.0")
        meta = text_of(await c.call_tool("hex_meta", {}))
    assert "changelog tarballs: 2 fetched, 2 refused" in meta
    assert part_of(text) == (
        "changelog: not shown — The downloaded release tarball does not match the checksum the Hex registry "
        "publishes for it, so it was not read · see Changelog: https://hexdocs.pm/quillmark/changelog.html"
    )
    assert "HOSTILE-MARKER" not in text
    assert (
        fake.count("/repo/tarballs/quillmark-1.8.0.tar") == 2
    )  # a mismatch may be a passing fault: not cached
    assert_cache_holds_no_tarball(settings.cache_dir)


async def test_a_tarball_over_the_size_cap_is_not_downloaded_whole(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    fake.set_tarball("quillmark", "1.8.0", bytes(17 * 1024 * 1024))  # hex.pm refuses tarballs over 16 MiB
    async with Client(create_server(make_settings("hexpm"))) as c:  # type: ignore[arg-type]
        text, part = await call(c, name="quillmark", from_version="1.7.0", to_version="1.8.0")
    assert part["status"] == "unavailable"
    assert "the release tarball could not be fetched: " in part_of(text)
    assert "above the 16,777,216-byte cap; it was not read" in part_of(text)


async def test_a_registry_entry_without_an_outer_checksum_takes_the_api_s(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    fake.drop_registry_checksum("quillmark", "1.8.0")
    async with Client(create_server(make_settings("hexpm", registry="auto"))) as c:  # type: ignore[arg-type]
        text, _ = await call(c, name="quillmark", from_version="1.7.0", to_version="1.8.0")
    assert part_of(text) == KEEP_A_CHANGELOG_PART
    assert fake.count("/api/packages/quillmark/releases/1.8.0") == 1


async def test_network_faults_on_the_tarball_are_one_note_and_never_followed(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    """A redirect is not followed, a 5xx or a cut body is a note; the tarball request never carries the API key."""
    settings = make_settings("hexpm", hex_api_key=Secret("0123456789abcdef0123456789abcdef"))
    expected = {
        "redirect": "the release tarball could not be fetched: The Hex repository ({repo}) answered with a "
        "redirect (HTTP 302), which is not followed",
        "status": "the release tarball could not be fetched: The Hex repository ({repo}) failed on its side "
        "(HTTP 503)",
        "truncated": "the release tarball could not be fetched: The Hex repository ({repo}) broke off its answer "
        "(RemoteProtocolError)",
    }
    async with Client(create_server(settings)) as c:  # type: ignore[arg-type]
        for kind, note in expected.items():
            fake.add_fault(
                Fault(kind, "/repo/tarballs/", times=1, **({"status": 503} if kind == "status" else {}))
            )
            text, part = await call(c, name="quillmark", from_version="1.7.0", to_version="1.8.0")
            assert part["status"] == "unavailable", kind
            assert part_of(text).startswith(f"changelog: not shown — {note.format(repo=fake.repo_url)}"), text
            assert "code diff: https://diff.hex.pm/diff/quillmark/1.7.0..1.8.0\n" in text
    tarball_hits = [h for h in fake.hits if h.path.startswith("/repo/tarballs/")]
    assert len(tarball_hits) == 3
    assert not any("authorization" in h.headers for h in tarball_hits)
    assert fake.count("/evil") == 0


# -- cache and offline ---------------------------------------------------------------------------------------


async def test_changelog_is_cached_per_release_and_checksum(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    settings = make_settings("hexpm")
    for _ in range(2):  # two server processes sharing one cache directory
        async with Client(create_server(settings)) as c:  # type: ignore[arg-type]
            text, _ = await call(c, name="quillmark", from_version="1.7.0", to_version="1.8.0")
    assert part_of(text) == KEEP_A_CHANGELOG_PART
    assert fake.count("/repo/tarballs/") == 1
    with sqlite3.connect(settings.cache_dir / "responses" / "cache.db") as db:
        keys = [row[0] for row in db.execute("SELECT key FROM Cache WHERE key LIKE 'r|changelog|%'")]
    assert keys == [f"r|changelog|1|quillmark|1.8.0|{changelogs.checksum('quillmark', '1.8.0')}"]
    # A release published with other bytes (another checksum) is read anew.
    fake.set_tarball("quillmark", "1.8.0", hex_tarball({"CHANGELOG.md": "## 1.8.0\n- Republished.\n"}))
    refetch = dataclasses.replace(
        settings, ttls=TTLs.uniform(0)
    )  # the release document too, with its checksum
    async with Client(create_server(refetch)) as c:  # type: ignore[arg-type]
        text, _ = await call(c, name="quillmark", from_version="1.7.0", to_version="1.8.0")
    assert "- Republished." in text
    assert fake.count("/repo/tarballs/") == 2


async def test_offline_answers_from_the_cache_or_says_why_not(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    online = make_settings("hexpm")
    fake.set_tarball("quillmark", "1.7.2", b"altered", checksum=changelogs.checksum("quillmark", "1.7.2"))
    async with Client(create_server(online)) as c:  # type: ignore[arg-type]
        await call(c, name="quillmark", from_version="1.7.0", to_version="1.8.0")
        await call(c, name="quillmark", from_version="1.7.0", to_version="1.7.2")
    fake.reset()
    offline = dataclasses.replace(online, offline=True)
    async with Client(create_server(offline)) as c:  # type: ignore[arg-type]
        text, _ = await call(c, name="quillmark", from_version="1.7.0", to_version="1.8.0")
        assert part_of(text) == KEEP_A_CHANGELOG_PART
        # 1.7.2's release document is cached, its changelog is not (the download failed its checksum).
        text, _ = await call(c, name="quillmark", from_version="1.7.0", to_version="1.7.2")
    assert part_of(text) == (
        "changelog: not shown — offline mode is on and this release's changelog is not in the cache · see "
        "Changelog: https://hexdocs.pm/quillmark/changelog.html"
    )
    assert fake.count() == 0


async def test_a_malformed_published_checksum_reads_nothing(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    fake.set_tarball("quillmark", "1.8.0", changelogs.tarball("quillmark", "1.8.0"), checksum="not-a-sha256")
    async with Client(create_server(make_settings("hexpm"))) as c:  # type: ignore[arg-type]
        text, part = await call(c, name="quillmark", from_version="1.7.0", to_version="1.8.0")
    assert part["status"] == "unavailable"
    assert part_of(text).startswith(
        "changelog: not shown — the checksum published for quillmark 1.8.0 is not a SHA-256, so the tarball was "
        "not read · see"
    )


# -- input ---------------------------------------------------------------------------------------------------


async def test_max_tokens_out_of_bounds_is_refused_before_any_call(
    cl_client: Client, fake: FakeUpstream
) -> None:
    for value in (99, 0, -5, 20_001, 10**12):
        result = await cl_client.call_tool(
            "hex_diff", {"name": "quillmark", "from_version": "1.7.0", "max_tokens": value}
        )
        assert result.is_error is True
        assert text_of(result).endswith(f"max_tokens={value} is out of range: use 100..20000.")
    assert fake.count() == 0


# -- the token counter ---------------------------------------------------------------------------------------


def test_the_runtime_counter_is_o200k() -> None:
    sample = part_of(f"x\n{KEEP_A_CHANGELOG_PART}\nsource: hex.pm · live")
    assert product_tokens.count_tokens(sample) == tokens(sample)
    assert product_tokens.count_tokens("a <|endoftext|> b") == 9  # special-token text is plain text here


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_the_fallback_count_is_never_below_o200k(text: str) -> None:
    """Without bpe-openai the count is UTF-8 bytes: every o200k token covers at least one byte."""
    assert len(text.encode("utf-8")) >= len(_o200k().encode_ordinary(text))


def test_without_bpe_openai_budgets_count_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(product_tokens, "exact_counter", lambda: None)
    assert product_tokens.count_tokens("héllo") == 6
