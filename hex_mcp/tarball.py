"""Find and read the changelog inside a Hex release tarball, in memory and within fixed bounds.

A Hex package tarball (``/tarballs/NAME-VERSION.tar``) is an uncompressed tar holding ``VERSION``,
``metadata.config``, ``CHECKSUM`` and ``contents.tar.gz``, the gzipped tar of the package's files. The registry
publishes the SHA-256 of the whole file (the "outer checksum"); nothing is parsed before that checksum matches.

Everything arriving here is treated as hostile until proven otherwise:

* the tarball itself is capped (``TarLimits.max_tarball_bytes``) before it is even hashed;
* ``contents.tar.gz`` is gunzipped incrementally with ``zlib`` and never more than ``max_contents_bytes`` of
  output is produced, whatever the tar headers claim. A ratio cap stops a gzip bomb long before the absolute cap
  when the compressed input is small; it only applies past ``ratio_floor_bytes`` because tiny archives of small
  files are mostly zero padding and legitimately compress very well;
* the inner tar is read as a stream, so memory holds one decompression window plus the changelog, never the
  whole package; the member count is capped because each member costs a Python object;
* members with absolute paths or ``..`` components, links, devices and fifos are ignored: only regular files are
  candidates, and nothing is ever written to disk.

Any bound that trips raises ``TarballError`` whose ``reason`` names it and whose message tells a model what to do.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import tarfile
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from hex_mcp.errors import HexError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["CHANGELOG_NAMES", "ChangelogFile", "TarLimits", "TarballError", "TarballReason", "read_changelog"]

log = logging.getLogger(__name__)

TarballReason = Literal[
    "too_large",  # the tarball, or the decompressed contents, exceed the absolute cap
    "checksum_mismatch",  # the bytes are not the release the registry describes
    "not_a_tar",  # the outer file is not a tar archive
    "truncated",  # a tar or gzip stream ends before its data does
    "missing_contents",  # the outer tar has no contents.tar.gz
    "corrupt_contents",  # contents.tar.gz is not valid gzip or does not hold a tar
    "bomb",  # the decompressed contents grew far beyond what their compressed size allows
    "too_many_members",  # more files than any real package ships
    "no_changelog",  # the package ships no recognised changelog file
    "changelog_too_large",  # the changelog file is over the size cap
]

# Preferred order: the first stem that exists wins, and for one stem the first extension. These are the names
# Elixir and Erlang projects use in practice; `CHANGELOG.md` is by far the most common (mix new and the Hex
# publishing guides point there), the rest are the long tail.
CHANGELOG_NAMES: tuple[str, ...] = tuple(
    stem + ext
    for stem in ("changelog", "changes", "history", "news")
    for ext in (".md", "", ".markdown", ".txt")
)

# The package root is where `mix hex.publish` and rebar3 put the files listed in `files:`, and where nearly every
# changelog lives. One level down is searched only in documentation folders: a few packages keep their changelog
# with their guides, while any other subfolder (c_src/, priv/, deps vendored into NIF packages) is likely to hold
# a *bundled library's* changelog, which would silently answer for the wrong project.
_DOC_DIRS = frozenset({"doc", "docs", "guides"})

_BEST_RANK = (0, 0)
_CONTENTS_MEMBER = "contents.tar.gz"
_GZIP_MAGIC = b"\x1f\x8b"
# Compressed input is fed to zlib in slices of this size; output is bounded separately by each read request.
_INPUT_CHUNK = 64 * 1024
_MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class TarLimits:
    """Bounds on reading one release tarball. The defaults admit every package hex.pm accepts."""

    # hex.pm takes release tarballs up to 16 MiB, and hex_core refuses contents over 128 MiB unpacked.
    max_tarball_bytes: int = 16 * _MiB
    max_contents_bytes: int = 128 * _MiB
    # Source trees compress 3-20x; padding-heavy tars of tiny files a little more. Deflate tops out near 1032x.
    max_ratio: int = 200
    ratio_floor_bytes: int = 1 * _MiB
    # Real packages ship hundreds to a few thousand files; each member costs a TarInfo (~0.5 KB) while reading.
    max_members: int = 20_000
    max_changelog_bytes: int = 2 * _MiB


@dataclass(frozen=True, slots=True)
class ChangelogFile:
    """The changelog found in a release: its path inside the package and its text (UTF-8, bad bytes replaced)."""

    name: str
    text: str


class TarballError(HexError):
    """A release tarball could not be read safely; ``reason`` says which check tripped."""

    def __init__(self, reason: TarballReason, message: str) -> None:
        super().__init__(message)
        self.reason: TarballReason = reason


def _mb(size: int) -> str:
    return f"{size / _MiB:.1f} MB"


def _normalise_sha256(expected: bytes | str) -> bytes:
    if isinstance(expected, str):
        try:
            raw = bytes.fromhex(expected)
        except ValueError:
            raise ValueError(f"expected_sha256 is not hex: {expected[:80]!r}") from None
    else:
        raw = bytes(expected)
    if len(raw) != hashlib.sha256().digest_size:
        raise ValueError(f"expected_sha256 must be 32 bytes (64 hex digits), got {len(raw)} bytes")
    return raw


def _safe_parts(name: str) -> list[str] | None:
    """The path components of a member name, or None when the name could escape the package root."""
    if name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        return None
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if not parts or ".." in parts or ":" in parts[0]:  # "C:" would be a Windows drive
        return None
    return parts


def _changelog_rank(parts: list[str]) -> tuple[int, int] | None:
    """(depth, name preference) for a changelog candidate, lower is better; None if the path is not one."""
    try:
        preference = CHANGELOG_NAMES.index(parts[-1].lower())
    except ValueError:
        return None
    if len(parts) == 1:
        return (0, preference)
    if len(parts) == 2 and parts[0].lower() in _DOC_DIRS:
        return (1, preference)
    return None


class _BoundedGunzip(io.RawIOBase):
    """A readable stream of the gunzipped bytes of ``data`` that refuses to produce more than the limits allow.

    zlib is asked for at most as many bytes as the caller wants, so a bomb never inflates more than one read
    request past the point where it is caught.
    """

    def __init__(self, data: memoryview, limits: TarLimits) -> None:
        super().__init__()
        self._data = data
        self._limits = limits
        self._pos = 0
        self._produced = 0
        self._inflater: zlib._Decompress | None = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        want = len(view)
        while self._inflater is not None and want:
            inflater = self._inflater
            chunk: bytes | memoryview
            if inflater.unconsumed_tail:
                chunk = inflater.unconsumed_tail
            else:
                chunk = self._data[self._pos : self._pos + _INPUT_CHUNK]
                if not chunk:
                    raise TarballError(
                        "truncated",
                        "The release's contents.tar.gz ends in the middle of its gzip stream, so the download "
                        "is incomplete. Try again later; if it persists, read the changelog from the package's "
                        "source repository (linked from hex_package).",
                    )
                self._pos += len(chunk)
            try:
                out = inflater.decompress(chunk, want)
            except zlib.error as error:
                raise TarballError(
                    "corrupt_contents",
                    f"The release's contents.tar.gz is not valid gzip ({error}). Read the changelog from the "
                    "package's source repository (linked from hex_package) instead.",
                ) from None
            if inflater.eof:
                self._next_member(inflater)
            if out:
                self._account(len(out))
                view[: len(out)] = out
                return len(out)
        return 0

    def _next_member(self, inflater: zlib._Decompress) -> None:
        # gzip allows several members back to back; anything else after the first member is trailing padding.
        self._pos -= len(inflater.unused_data)
        if self._data[self._pos : self._pos + 2] == _GZIP_MAGIC:
            self._inflater = zlib.decompressobj(wbits=31)
        else:
            self._inflater = None

    def _account(self, count: int) -> None:
        self._produced += count
        limits = self._limits
        if self._produced > limits.max_contents_bytes:
            raise _contents_too_large(limits)
        compressed = max(len(self._data), 1)
        if self._produced > limits.ratio_floor_bytes and self._produced > limits.max_ratio * compressed:
            raise TarballError(
                "bomb",
                f"The release's contents.tar.gz ({compressed} bytes) inflates to over {limits.max_ratio} times "
                "its size, which only a decompression bomb does; reading stopped. Do not download this "
                "release; read the changelog from the package's source repository instead.",
            )


def _contents_too_large(limits: TarLimits) -> TarballError:
    return TarballError(
        "too_large",
        f"The release's files unpack to more than {_mb(limits.max_contents_bytes)}, over what this server reads; "
        "its changelog cannot be shown. Read it from the package's source repository (linked from hex_package) "
        "instead.",
    )


def _contents_gz(tarball: bytes, limits: TarLimits) -> memoryview:
    """The bytes of ``contents.tar.gz`` from the outer tar (a view into ``tarball``, nothing copied)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:") as outer:
            for count, member in enumerate(outer, start=1):
                if count > limits.max_members:
                    raise _too_many(limits)
                if member.name != _CONTENTS_MEMBER:
                    continue
                if not member.isreg() or member.issparse():
                    break
                end = member.offset_data + member.size
                if end > len(tarball):
                    raise TarballError(
                        "truncated",
                        f"The release tarball is cut short: contents.tar.gz needs {end} bytes, the file has "
                        f"{len(tarball)}. Try again later; the download was incomplete.",
                    )
                return memoryview(tarball)[member.offset_data : end]
    except tarfile.TarError as error:
        raise TarballError(
            "not_a_tar",
            f"The release file is not a tar archive ({error}); it cannot be a Hex package. Read the changelog "
            "from the package's source repository (linked from hex_package) instead.",
        ) from None
    raise TarballError(
        "missing_contents",
        "The release tarball holds no contents.tar.gz (a Hex package always has one), so it has no files to "
        "read a changelog from. Read the changelog from the package's source repository instead.",
    )


def _too_many(limits: TarLimits) -> TarballError:
    return TarballError(
        "too_many_members",
        f"The release holds more than {limits.max_members} files, over what this server reads; its changelog "
        "cannot be shown. Read it from the package's source repository (linked from hex_package) instead.",
    )


def _too_large_changelog(name: str, size: int, limits: TarLimits) -> TarballError:
    return TarballError(
        "changelog_too_large",
        f"The release's {name} is {_mb(size)}, over the {_mb(limits.max_changelog_bytes)} this server reads. "
        "Read it from the package's source repository (linked from hex_package), or the release's docs on "
        "hexdocs.pm.",
    )


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, limits: TarLimits) -> bytes:
    handle = tar.extractfile(member)
    if handle is None:  # only regular files reach here, which always have a handle; kept for the type checker
        return b""
    with handle:
        # Bounded even if the size in the header (already checked against the cap) were wrong.
        return handle.read(min(member.size, limits.max_changelog_bytes))


def read_changelog(
    tarball: bytes, *, expected_sha256: bytes | str, limits: TarLimits = TarLimits()
) -> ChangelogFile:
    """The changelog shipped in a Hex release tarball, after checking the tarball's outer SHA-256.

    ``expected_sha256`` is the registry's outer checksum, as 32 raw bytes or 64 hex digits (any case); a
    malformed value is a programming error and raises ``ValueError``. Every other failure raises
    ``TarballError``. Root-level files are preferred to ones in ``doc/``, ``docs/`` or ``guides/``, then names
    in ``CHANGELOG_NAMES`` order, compared case-insensitively.
    """
    expected = _normalise_sha256(expected_sha256)
    if len(tarball) > limits.max_tarball_bytes:
        raise TarballError(
            "too_large",
            f"The release tarball is {_mb(len(tarball))}, over the {_mb(limits.max_tarball_bytes)} this server "
            "reads; its changelog cannot be shown. Read it from the package's source repository (linked from "
            "hex_package) instead.",
        )
    if not hmac.compare_digest(hashlib.sha256(tarball).digest(), expected):
        raise TarballError(
            "checksum_mismatch",
            "The downloaded release tarball does not match the checksum the Hex registry publishes for it, so "
            "it was not read. Try again later; if it persists, the mirror or a proxy is serving altered files.",
        )
    contents = _contents_gz(tarball, limits)
    # (rank, path, text or None when over the size cap, size): a too-large candidate only fails the call if
    # nothing better turns up later in the archive.
    best: tuple[tuple[int, int], str, bytes | None, int] | None = None
    try:
        with tarfile.open(fileobj=_BoundedGunzip(contents, limits), mode="r|") as inner:
            for count, member in enumerate(inner, start=1):
                if count > limits.max_members:
                    raise _too_many(limits)
                # The stream skips a member's data by reading it block by block, even past the end of the
                # input: a header claiming a terabyte would spin for minutes. Refuse it before skipping.
                if member.offset_data + member.size > limits.max_contents_bytes:
                    raise _contents_too_large(limits)
                # Only regular files: a symlink or hard link named CHANGELOG.md could point anywhere.
                if not member.isreg() or member.issparse():
                    continue
                parts = _safe_parts(member.name)
                if parts is None:
                    continue
                rank = _changelog_rank(parts)
                if rank is None or (best is not None and best[0] <= rank):
                    continue
                too_large = member.size > limits.max_changelog_bytes
                data = None if too_large else _read_member(inner, member, limits)
                best = (rank, "/".join(parts), data, member.size)
                if rank == _BEST_RANK:
                    break  # nothing can beat a root CHANGELOG.md: skip inflating the rest of the package
    except tarfile.ReadError as error:
        # Stream mode reports both a non-tar payload and a cut-off one as ReadError; the message tells them apart.
        truncated = "unexpected end" in str(error)
        raise TarballError(
            "truncated" if truncated else "corrupt_contents",
            f"The release's contents.tar.gz {'ends early' if truncated else 'does not hold a tar archive'} "
            f"({error}). Read the changelog from the package's source repository (linked from hex_package) "
            "instead.",
        ) from None
    except tarfile.TarError as error:
        raise TarballError(
            "corrupt_contents",
            f"The release's contents.tar.gz could not be read as a tar archive ({error}). Read the changelog "
            "from the package's source repository (linked from hex_package) instead.",
        ) from None
    if best is None:
        raise TarballError(
            "no_changelog",
            "This release ships no changelog file (looked for CHANGELOG.md, CHANGELOG, CHANGES.md, HISTORY.md, "
            "NEWS.md and similar at the package root and in doc/, docs/, guides/). Check the package's source "
            "repository or its release notes (linked from hex_package).",
        )
    _, name, data, size = best
    if data is None:
        raise _too_large_changelog(name, size, limits)
    log.debug("changelog %s: %d bytes", name, len(data))
    return ChangelogFile(name=name, text=data.decode("utf-8", errors="replace"))
