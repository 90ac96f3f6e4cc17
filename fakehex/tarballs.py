"""Build synthetic Hex release tarballs in memory, honest or hostile, for tests and the fake upstream.

A Hex tarball is an uncompressed tar of ``VERSION``, ``metadata.config``, ``contents.tar.gz`` and ``CHECKSUM``
(the uppercase hex SHA-256 of the first three concatenated); the registry's outer checksum is the SHA-256 of the
whole file, see ``outer_sha256``.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

DEFAULT_METADATA = b'{<<"name">>,<<"demo">>}.\n{<<"version">>,<<"1.0.0">>}.\n'


@dataclass(frozen=True)
class Entry:
    """One member of a package's contents tar; ``kind`` is a tarfile type (REGTYPE, SYMTYPE, LNKTYPE, ...)."""

    name: str
    data: bytes = b""
    kind: bytes = tarfile.REGTYPE
    linkname: str = ""


def _tar(entries: Iterable[Entry]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = entry.kind
            info.linkname = entry.linkname
            info.mtime = 0
            if entry.kind in (tarfile.REGTYPE, tarfile.AREGTYPE):
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def contents_tar(files: Mapping[str, bytes | str] | Iterable[Entry]) -> bytes:
    """The uncompressed tar of a package's files: a name -> content mapping, or explicit entries."""
    if isinstance(files, Mapping):
        entries: Iterable[Entry] = (
            Entry(name, data.encode() if isinstance(data, str) else data) for name, data in files.items()
        )
    else:
        entries = files
    return _tar(entries)


def gzip(data: bytes | Iterable[bytes], level: int = 6) -> bytes:
    """Gzip ``data``, or a stream of chunks (to compress far more than fits comfortably in memory at once)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    chunks = [data] if isinstance(data, bytes) else data
    return b"".join(compressor.compress(chunk) for chunk in chunks) + compressor.flush()


def many_members_tar(count: int) -> bytes:
    """A tar of ``count`` empty files with distinct names, built from one template header.

    Patching names into a prebuilt ustar header is ~20x faster than ``tarfile.addfile`` per member.
    """
    template = bytearray(tarfile.TarInfo("x" * 16).tobuf(format=tarfile.USTAR_FORMAT))
    blocks = []
    for index in range(count):
        header = template.copy()
        header[0:16] = f"m{index:015d}".encode()
        header[148:156] = b" " * 8  # the checksum is computed with its own field blank
        header[148:156] = f"{sum(header):06o}\x00 ".encode()
        blocks.append(bytes(header))
    return b"".join(blocks) + b"\x00" * 1024


def zero_member_gz(name: str, size: int, prefix: Iterable[Entry] = ()) -> bytes:
    """A gzipped contents tar whose member ``name`` is ``size`` zero bytes, compressed as a stream (a gzip bomb
    when ``size`` is large: 32 MiB of zeros gzip to about 32 KB)."""
    head = contents_tar(list(prefix))[: -1024 * 2]  # drop the end-of-archive blocks (tarfile pads further)
    head = head.rstrip(b"\x00")
    head += b"\x00" * (-len(head) % 512)
    info = tarfile.TarInfo(name)
    info.size = size

    def chunks() -> Iterator[bytes]:
        yield head
        yield info.tobuf(format=tarfile.USTAR_FORMAT)
        block = b"\x00" * (1 << 20)
        for _ in range(size >> 20):
            yield block
        yield b"\x00" * (size & ((1 << 20) - 1))
        yield b"\x00" * (-size % 512 + 1024)

    return gzip(chunks(), level=9)


def hex_tarball(
    files: Mapping[str, bytes | str] | Iterable[Entry] | None = None,
    *,
    contents_gz: bytes | None = None,
    version: bytes = b"3",
    metadata: bytes = DEFAULT_METADATA,
    include_contents: bool = True,
) -> bytes:
    """A Hex release tarball holding ``files`` (or a ready-made ``contents_gz``, honest or not)."""
    if contents_gz is None:
        contents_gz = gzip(contents_tar(files if files is not None else {}))
    members = [("VERSION", version), ("metadata.config", metadata)]
    if include_contents:
        members.append(("contents.tar.gz", contents_gz))
    checksum = hashlib.sha256(b"".join(data for _, data in members)).hexdigest().upper().encode()
    members.append(("CHECKSUM", checksum))
    return _tar(Entry(name, data) for name, data in members)


def outer_sha256(tarball: bytes) -> str:
    """The registry's outer checksum of a tarball, as lower-case hex."""
    return hashlib.sha256(tarball).hexdigest()
