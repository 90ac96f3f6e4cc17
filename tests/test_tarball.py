"""Reading the changelog out of Hex release tarballs: honest packages, and hostile ones that must trip a bound.

Every tarball is built here in memory (fakehex/tarballs.py); every changelog text is written for the test.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest

from fakehex.tarballs import (
    Entry,
    contents_tar,
    gzip,
    hex_tarball,
    many_members_tar,
    outer_sha256,
    zero_member_gz,
)
from hex_mcp.errors import HexError
from hex_mcp.tarball import (
    CHANGELOG_NAMES,
    ChangelogFile,
    TarballError,
    TarballReason,
    TarLimits,
    read_changelog,
)

DEFAULT_LIMITS = TarLimits()
CHANGELOG = "# Changelog\n\n## v0.2.0 (2026-01-10)\n\n- Add `Demo.run/1`\n"


@pytest.fixture(autouse=True)
def no_disk_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test runs in an empty cwd with an empty private temp dir, both still empty afterwards."""
    cwd = tmp_path / "cwd"
    temp = tmp_path / "tmp"
    cwd.mkdir()
    temp.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    for name in ("TMPDIR", "TEMP", "TMP"):
        monkeypatch.setenv(name, str(temp))
    yield
    assert list(cwd.iterdir()) == []
    assert list(temp.iterdir()) == []


def read(tarball: bytes, limits: TarLimits = DEFAULT_LIMITS) -> ChangelogFile:
    return read_changelog(tarball, expected_sha256=outer_sha256(tarball), limits=limits)


def reason_of(tarball: bytes, limits: TarLimits = DEFAULT_LIMITS) -> TarballError:
    with pytest.raises(TarballError) as caught:
        read(tarball, limits)
    return caught.value


# --- honest packages -----------------------------------------------------------------------------------------


def test_reads_root_changelog() -> None:
    tarball = hex_tarball({"mix.exs": "defmodule Demo.MixProject do end\n", "CHANGELOG.md": CHANGELOG})
    assert read(tarball) == ChangelogFile(name="CHANGELOG.md", text=CHANGELOG)


def test_checksum_accepted_as_raw_bytes_and_hex_in_any_case() -> None:
    tarball = hex_tarball({"CHANGELOG.md": CHANGELOG})
    digest = hashlib.sha256(tarball).digest()
    for expected in (digest, digest.hex(), digest.hex().upper()):
        assert read_changelog(tarball, expected_sha256=expected).text == CHANGELOG


@pytest.mark.parametrize(
    ("expected", "message"),
    [
        ("abc", "expected_sha256 is not hex: 'abc'"),
        ("00" * 31, "expected_sha256 must be 32 bytes (64 hex digits), got 31 bytes"),
        (b"\x00" * 33, "expected_sha256 must be 32 bytes (64 hex digits), got 33 bytes"),
    ],
)
def test_malformed_expected_checksum_is_a_programming_error(expected: bytes | str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        read_changelog(hex_tarball({"CHANGELOG.md": CHANGELOG}), expected_sha256=expected)


@pytest.mark.parametrize(
    ("names", "chosen"),
    [
        (["NEWS.md", "HISTORY.md", "CHANGES.md", "CHANGELOG", "CHANGELOG.md"], "CHANGELOG.md"),
        (["NEWS.md", "HISTORY.md", "CHANGES.md", "CHANGELOG"], "CHANGELOG"),
        (["NEWS.md", "HISTORY.md", "CHANGES.md"], "CHANGES.md"),
        (["NEWS.md", "HISTORY.md"], "HISTORY.md"),
        (["NEWS.md"], "NEWS.md"),
        (["changelog.MD"], "changelog.MD"),
        (["Changelog.txt", "README.md"], "Changelog.txt"),
        (["docs/CHANGELOG.md", "NEWS"], "NEWS"),  # any root name beats a doc folder
        (["guides/CHANGELOG.md", "lib/demo.ex"], "guides/CHANGELOG.md"),
        (["Docs/changes.md"], "Docs/changes.md"),
        (["./CHANGELOG.md"], "CHANGELOG.md"),
    ],
)
def test_picks_the_preferred_changelog(names: list[str], chosen: str) -> None:
    files = {name: f"text of {name}\n" for name in names}
    found = read(hex_tarball(files))
    assert found.name == chosen
    assert found.text == files[names[[n.removeprefix("./") for n in names].index(chosen)]]


def test_name_list_starts_with_the_common_names() -> None:
    assert CHANGELOG_NAMES[:2] == ("changelog.md", "changelog")
    assert {"changes.md", "history.md", "news.md"} <= set(CHANGELOG_NAMES)


def test_root_changelog_found_after_a_doc_folder_one() -> None:
    tarball = hex_tarball([Entry("docs/CHANGELOG.md", b"docs copy\n"), Entry("CHANGELOG.md", b"root copy\n")])
    assert read(tarball) == ChangelogFile("CHANGELOG.md", "root copy\n")


@pytest.mark.parametrize(
    "name", ["c_src/CHANGELOG.md", "deps/libfoo/CHANGELOG.md", "lib/CHANGELOG.md", "docs/old/CHANGELOG.md"]
)
def test_changelogs_outside_root_and_doc_folders_belong_to_something_else(name: str) -> None:
    error = reason_of(hex_tarball({name: "a bundled library's changes\n", "mix.exs": "x"}))
    assert error.reason == "no_changelog"
    assert str(error) == (
        "This release ships no changelog file (looked for CHANGELOG.md, CHANGELOG, CHANGES.md, HISTORY.md, "
        "NEWS.md and similar at the package root and in doc/, docs/, guides/). Check the package's source "
        "repository or its release notes (linked from hex_package)."
    )


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    tarball = hex_tarball({"CHANGELOG.md": b"## 1.0.0\n- caf\xe9 \xff\n"})
    assert read(tarball).text == "## 1.0.0\n- caf\ufffd \ufffd\n"


def test_multi_member_gzip_contents_are_read_whole() -> None:
    raw = contents_tar({"lib/demo.ex": "x" * 3000, "CHANGELOG.md": CHANGELOG})
    split = len(raw) // 2
    tarball = hex_tarball(contents_gz=gzip(raw[:split]) + gzip(raw[split:]))
    assert read(tarball).text == CHANGELOG


def test_trailing_padding_after_gzip_is_ignored() -> None:
    tarball = hex_tarball(contents_gz=gzip(contents_tar({"CHANGELOG.md": CHANGELOG})) + b"\x00" * 64)
    assert read(tarball).text == CHANGELOG


def test_stops_reading_once_the_root_changelog_is_found() -> None:
    # A bomb after CHANGELOG.md is never inflated: nothing can beat the changelog already in hand.
    bomb = _zero_member_gz("big.bin", 32 * 1024 * 1024, prefix=[Entry("CHANGELOG.md", CHANGELOG.encode())])
    assert read(hex_tarball(contents_gz=bomb)).text == CHANGELOG


def test_error_is_a_hex_error() -> None:
    error = reason_of(b"not a tarball")
    assert isinstance(error, HexError)


# --- hostile packages --------------------------------------------------------------------------------------


def test_checksum_mismatch_reads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    tarball = hex_tarball({"CHANGELOG.md": CHANGELOG})
    opened: list[object] = []
    monkeypatch.setattr(tarfile, "open", lambda *args, **kwargs: opened.append(args))
    with pytest.raises(TarballError) as caught:
        read_changelog(tarball, expected_sha256=hashlib.sha256(b"another release").digest())
    assert caught.value.reason == "checksum_mismatch"
    assert str(caught.value) == (
        "The downloaded release tarball does not match the checksum the Hex registry publishes for it, so it "
        "was not read. Try again later; if it persists, the mirror or a proxy is serving altered files."
    )
    assert opened == []


def test_tarball_over_the_size_cap() -> None:
    tarball = hex_tarball({"CHANGELOG.md": CHANGELOG})
    error = reason_of(tarball, TarLimits(max_tarball_bytes=len(tarball) - 1))
    assert error.reason == "too_large"
    assert str(error) == (
        "The release tarball is 0.0 MB, over the 0.0 MB this server reads; its changelog cannot be shown. "
        "Read it from the package's source repository (linked from hex_package) instead."
    )


def _zero_member_gz(name: str, size: int, prefix: list[Entry] | None = None) -> bytes:
    return zero_member_gz(name, size, prefix or [])


def test_gzip_bomb_stops_on_the_ratio() -> None:
    bomb = _zero_member_gz("big.bin", 32 * 1024 * 1024)
    error = reason_of(hex_tarball(contents_gz=bomb))
    assert error.reason == "bomb"
    assert str(error) == (
        f"The release's contents.tar.gz ({len(bomb)} bytes) inflates to over 200 times its size, which only a "
        "decompression bomb does; reading stopped. Do not download this release; read the changelog from the "
        "package's source repository instead."
    )


def test_contents_over_the_absolute_cap_even_at_an_honest_ratio() -> None:
    noise = random.Random(7).randbytes(300_000)  # incompressible: the ratio stays near 1
    tarball = hex_tarball({"priv/blob.bin": noise, "CHANGELOG.md": CHANGELOG})
    error = reason_of(tarball, TarLimits(max_contents_bytes=200_000))
    assert error.reason == "too_large"
    assert str(error) == (
        "The release's files unpack to more than 0.2 MB, over what this server reads; its changelog cannot be "
        "shown. Read it from the package's source repository (linked from hex_package) instead."
    )


def _lying_header_gz(claimed: int, data: bytes) -> bytes:
    """A contents tar whose only member's header claims ``claimed`` bytes, followed by ``data`` and nothing else."""
    info = tarfile.TarInfo("lib/huge.bin")
    info.size = claimed
    return gzip(info.tobuf(format=tarfile.PAX_FORMAT) + data)


def test_a_header_claiming_more_than_the_cap_is_refused_before_skipping() -> None:
    # Skipping a terabyte of missing data would loop for minutes inside tarfile; the claim alone is refused.
    error = reason_of(hex_tarball(contents_gz=_lying_header_gz(1 << 40, b"short")))
    assert error.reason == "too_large"
    assert str(error) == (
        "The release's files unpack to more than 128.0 MB, over what this server reads; its changelog cannot be "
        "shown. Read it from the package's source repository (linked from hex_package) instead."
    )


def test_a_header_claiming_more_than_the_data_holds_is_truncated() -> None:
    error = reason_of(hex_tarball(contents_gz=_lying_header_gz(1 << 20, random.Random(4).randbytes(3000))))
    assert error.reason == "truncated"
    assert str(error) == (
        "The release's contents.tar.gz ends early (unexpected end of data). Read the changelog from the "
        "package's source repository (linked from hex_package) instead."
    )


@pytest.mark.parametrize(
    "name", ["../CHANGELOG.md", "/CHANGELOG.md", "docs/../CHANGELOG.md", "..\\CHANGELOG.md", "C:CHANGELOG.md"]
)
def test_path_traversal_members_are_ignored(name: str) -> None:
    assert reason_of(hex_tarball({name: "escaped\n"})).reason == "no_changelog"
    found = read(hex_tarball({name: "escaped\n", "CHANGES.md": "inside\n"}))
    assert found == ChangelogFile("CHANGES.md", "inside\n")


@pytest.mark.parametrize(
    "entry",
    [
        Entry("CHANGELOG.md", kind=tarfile.SYMTYPE, linkname="/etc/passwd"),
        Entry("CHANGELOG.md", kind=tarfile.LNKTYPE, linkname="lib/demo.ex"),
        Entry("CHANGELOG.md", kind=tarfile.FIFOTYPE),
        Entry("CHANGELOG.md", kind=tarfile.CHRTYPE),
        Entry("CHANGELOG.md", kind=tarfile.BLKTYPE),
        Entry("CHANGELOG.md", kind=tarfile.DIRTYPE),
    ],
    ids=["symlink", "hardlink", "fifo", "chardev", "blockdev", "directory"],
)
def test_links_devices_and_fifos_named_changelog_are_ignored(entry: Entry) -> None:
    tarball = hex_tarball([Entry("lib/demo.ex", b"defmodule Demo do end\n"), entry])
    assert reason_of(tarball).reason == "no_changelog"
    with_real = hex_tarball([entry, Entry("NEWS.md", b"real news\n")])
    assert read(with_real) == ChangelogFile("NEWS.md", "real news\n")


def test_hundred_thousand_members() -> None:
    tarball = hex_tarball(contents_gz=gzip(many_members_tar(100_000)))
    error = reason_of(tarball)
    assert error.reason == "too_many_members"
    assert str(error) == (
        "The release holds more than 20000 files, over what this server reads; its changelog cannot be shown. "
        "Read it from the package's source repository (linked from hex_package) instead."
    )


def test_member_count_cap_applies_to_the_outer_tar_too() -> None:
    outer = io.BytesIO()
    with tarfile.open(fileobj=outer, mode="w") as tar:
        for index in range(5):
            tar.addfile(tarfile.TarInfo(f"pad{index}"), io.BytesIO(b""))
    assert reason_of(outer.getvalue(), TarLimits(max_members=4)).reason == "too_many_members"


def test_twenty_megabyte_changelog() -> None:
    huge = b"- another line of release notes\n" * (20 * 1024 * 1024 // 32)
    tarball = hex_tarball({"CHANGELOG.md": huge})
    error = reason_of(tarball)
    assert error.reason == "changelog_too_large"
    assert str(error) == (
        "The release's CHANGELOG.md is 20.0 MB, over the 2.0 MB this server reads. Read it from the package's "
        "source repository (linked from hex_package), or the release's docs on hexdocs.pm."
    )


def test_oversized_doc_folder_changelog_gives_way_to_a_root_one() -> None:
    tarball = hex_tarball({"docs/CHANGELOG.md": "x" * 5000, "CHANGELOG.md": CHANGELOG})
    assert read(tarball, TarLimits(max_changelog_bytes=4096)).text == CHANGELOG


def test_changelog_exactly_at_the_cap_is_read() -> None:
    tarball = hex_tarball({"CHANGELOG.md": "y" * 4096})
    assert read(tarball, TarLimits(max_changelog_bytes=4096)).text == "y" * 4096
    assert reason_of(tarball, TarLimits(max_changelog_bytes=4095)).reason == "changelog_too_large"


@pytest.mark.parametrize("payload", [b"", b"not a tarball at all", b"\x1f\x8b\x08\x00" + b"\x00" * 600])
def test_not_a_tar(payload: bytes) -> None:
    error = reason_of(payload)
    assert error.reason == "not_a_tar"
    assert str(error).startswith("The release file is not a tar archive (")
    assert str(error).endswith(
        "); it cannot be a Hex package. Read the changelog from the package's source repository (linked from "
        "hex_package) instead."
    )


def test_truncated_outer_tar() -> None:
    tarball = hex_tarball({"lib/demo.ex": random.Random(1).randbytes(5000), "CHANGELOG.md": CHANGELOG})
    cut = tarball[: tarball.index(b"\x1f\x8b") + 100]
    error = reason_of(cut)
    assert error.reason == "truncated"
    assert str(error).startswith("The release tarball is cut short: contents.tar.gz needs ")
    assert str(error).endswith(
        f"bytes, the file has {len(cut)}. Try again later; the download was incomplete."
    )


def test_truncated_gzip_stream() -> None:
    gz = gzip(contents_tar({"lib/demo.ex": random.Random(2).randbytes(5000), "CHANGELOG.md": CHANGELOG}))
    error = reason_of(hex_tarball(contents_gz=gz[: len(gz) // 2]))
    assert error.reason == "truncated"
    assert str(error) == (
        "The release's contents.tar.gz ends in the middle of its gzip stream, so the download is incomplete. "
        "Try again later; if it persists, read the changelog from the package's source repository (linked "
        "from hex_package)."
    )


def test_truncated_inner_tar() -> None:
    raw = contents_tar({"CHANGELOG.md": CHANGELOG * 40})
    error = reason_of(hex_tarball(contents_gz=gzip(raw[:1000])))
    assert error.reason == "truncated"
    assert "ends early" in str(error)


def test_missing_contents() -> None:
    error = reason_of(hex_tarball({"CHANGELOG.md": CHANGELOG}, include_contents=False))
    assert error.reason == "missing_contents"
    assert str(error) == (
        "The release tarball holds no contents.tar.gz (a Hex package always has one), so it has no files to "
        "read a changelog from. Read the changelog from the package's source repository instead."
    )


def test_contents_as_a_symlink_is_missing_contents() -> None:
    outer = io.BytesIO()
    with tarfile.open(fileobj=outer, mode="w") as tar:
        link = tarfile.TarInfo("contents.tar.gz")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    assert reason_of(outer.getvalue()).reason == "missing_contents"


def test_contents_not_gzip() -> None:
    error = reason_of(hex_tarball(contents_gz=b"\x1f\x8bthis is no deflate stream"))
    assert error.reason == "corrupt_contents"
    assert str(error).startswith("The release's contents.tar.gz is not valid gzip (")


def test_contents_gzip_of_something_that_is_not_a_tar() -> None:
    error = reason_of(hex_tarball(contents_gz=gzip(b"just some text, not a tar archive\n" * 40)))
    assert error.reason == "corrupt_contents"
    assert "does not hold a tar archive" in str(error)


def test_every_reason_is_exercised() -> None:
    # Keeps this file honest when a reason is added: each one needs a test asserting it.
    source = Path(__file__).read_text()
    for reason in get_args(TarballReason):
        assert f'reason == "{reason}"' in source, reason


def test_builder_checksum_matches_the_spec() -> None:
    # CHECKSUM is the uppercase hex SHA-256 of VERSION + metadata.config + contents.tar.gz.
    tarball = hex_tarball({"CHANGELOG.md": CHANGELOG})
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
        parts = {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]
    assert list(parts) == ["VERSION", "metadata.config", "contents.tar.gz", "CHECKSUM"]
    inner = hashlib.sha256(parts["VERSION"] + parts["metadata.config"] + parts["contents.tar.gz"])
    assert parts["CHECKSUM"] == inner.hexdigest().upper().encode()
    assert parts["VERSION"] == b"3"
