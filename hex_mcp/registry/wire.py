"""A minimal, bounded reader for the protobuf wire format: just what the Hex registry messages use.

Why hand-written rather than the official `protobuf` runtime: the registry schema is five small proto2 files whose
top-level names collide (`Package` and `Timestamp` each exist in several files with no `package` declaration), and
its enums are proto2-closed, so the runtime would silently turn an unknown `RetirementReason` into "other". Both can
be worked around (local copies with a `package` line, enums declared as int32), but that buys a 2.7 MB dependency with
native code to decode a handful of field types. Speed does not argue for it either. Measured by `bench/registry.py`
on the real 2020-07 `/versions` snapshot (584 KB payload, 10,147 packages, 59,372 versions), payload decode only,
31 interleaved runs, CPython 3.11, shared 2-core x86_64 VM at load ~5, fastest / median:

    this reader, into the frozen dataclasses                  48 ms / 102 ms
    protobuf 7.36 (upb), runtime descriptors: parse only     0.9 ms / 0.9 ms
    protobuf 7.36: parse, then copy into the same dataclasses  39 ms /  96 ms

The runtime parses a hundred times faster, but callers need plain Python values, and copying them out of the
protobuf objects costs about what the whole hand-written decode does (the medians are mostly garbage-collection
passes over the host process, which both pay alike). `/versions` is decoded at most once per cache refresh, and a
package file (1 KB) in 0.03 ms, so neither is worth a dependency.

Everything here is bounded: a varint is at most 10 bytes and must fit in 64 bits, every length is checked against
the enclosing message before it is used, and groups (wire types 3 and 4, unused by the registry) are rejected.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Literal

WireStep = Literal["truncated", "malformed"]

VARINT = 0
FIXED64 = 1
LEN = 2
FIXED32 = 5

_MAX_VARINT_BYTES = 10
_UINT64_LIMIT = 1 << 64
_FLOAT = struct.Struct("<f")


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message; `step` says whether they ended early or are wrong."""

    def __init__(self, step: WireStep, detail: str) -> None:
        super().__init__(detail)
        self.step: WireStep = step
        self.detail = detail


def read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Decode one unsigned varint at `pos`; return (value, position after it)."""
    result = 0
    shift = 0
    start = pos
    while True:
        if pos >= end:
            raise WireError("truncated", f"varint at byte {start} runs past the end of its message")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        if pos - start >= _MAX_VARINT_BYTES:
            raise WireError("malformed", f"varint at byte {start} is longer than {_MAX_VARINT_BYTES} bytes")
    if result >= _UINT64_LIMIT:
        raise WireError("malformed", f"varint at byte {start} does not fit in 64 bits")
    return result, pos


def as_int32(value: int) -> int:
    """Reinterpret a decoded varint as a protobuf int32 (negative int32s are sign-extended to 64 bits)."""
    if value >= 1 << 63:
        value -= _UINT64_LIMIT
    if not -(1 << 31) <= value < 1 << 31:
        raise WireError("malformed", f"value {value} is out of range for an int32 field")
    return value


def as_int64(value: int) -> int:
    return value - _UINT64_LIMIT if value >= 1 << 63 else value


def fields(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Walk the fields of the message in `buf[start:end]`.

    Yields (field number, wire type, a, b): for a varint `a` is the value; for the other wire types
    `buf[a:b]` is the field's payload (a length-delimited body, or the 4/8 bytes of a fixed field).
    Callers skip fields they do not know by ignoring them, which is how protobuf stays forward compatible.
    """
    pos = start
    while pos < end:
        number, wire_type, a, b, pos = next_field(buf, pos, end)
        yield number, wire_type, a, b


def next_field(buf: bytes, pos: int, end: int) -> tuple[int, int, int, int, int]:
    """The field starting at `pos` (< end) as `fields` yields it, plus the position after it."""
    tag_at = pos
    # Fast path: tags and lengths under 128 are one byte, which is nearly all of them in registry files.
    tag = buf[pos]
    if tag < 0x80:
        pos += 1
    else:
        tag, pos = read_varint(buf, pos, end)
    number = tag >> 3
    wire_type = tag & 7
    if number == 0:
        raise WireError("malformed", f"field number 0 at byte {tag_at}")
    if wire_type == LEN:
        if pos < end and buf[pos] < 0x80:
            length = buf[pos]
            pos += 1
        else:
            length, pos = read_varint(buf, pos, end)
        stop = pos + length
        if stop > end:
            raise WireError(
                "truncated",
                f"field {number} at byte {tag_at} declares {length} bytes but its message has {end - pos} left",
            )
        return number, wire_type, pos, stop, stop
    if wire_type == VARINT:
        value, pos = read_varint(buf, pos, end)
        return number, wire_type, value, 0, pos
    if wire_type in (FIXED32, FIXED64):
        stop = pos + (4 if wire_type == FIXED32 else 8)
        if stop > end:
            raise WireError("truncated", f"fixed-width field {number} at byte {tag_at} runs past its message")
        return number, wire_type, pos, stop, stop
    raise WireError("malformed", f"field {number} at byte {tag_at} has unsupported wire type {wire_type}")


def repeated_varints(buf: bytes, wire_type: int, a: int, b: int, number: int) -> list[int]:
    """The values of one occurrence of a repeated integer field: packed (LEN) or a single unpacked varint.

    Protobuf parsers must accept both encodings for every repeated scalar, whichever the schema declares.
    """
    if wire_type == VARINT:
        return [a]
    if wire_type != LEN:
        raise WireError("malformed", f"repeated integer field {number} has wire type {wire_type}")
    values = []
    pos = a
    while pos < b:
        value, pos = read_varint(buf, pos, b)
        values.append(value)
    return values


def text(buf: bytes, wire_type: int, a: int, b: int, number: int) -> str:
    if wire_type != LEN:
        raise WireError("malformed", f"string field {number} has wire type {wire_type}")
    try:
        return buf[a:b].decode("utf-8")
    except UnicodeDecodeError as error:
        raise WireError("malformed", f"string field {number} is not valid UTF-8") from error


def blob(buf: bytes, wire_type: int, a: int, b: int, number: int) -> bytes:
    if wire_type != LEN:
        raise WireError("malformed", f"bytes field {number} has wire type {wire_type}")
    return buf[a:b]


def varint(wire_type: int, a: int, number: int) -> int:
    if wire_type != VARINT:
        raise WireError("malformed", f"integer field {number} has wire type {wire_type}")
    return a


def float32(buf: bytes, wire_type: int, a: int, number: int) -> float:
    if wire_type != FIXED32:
        raise WireError("malformed", f"float field {number} has wire type {wire_type}")
    value: float = _FLOAT.unpack_from(buf, a)[0]
    return value


def submessage(wire_type: int, number: int) -> None:
    """Check that a field meant to hold a message is length-delimited."""
    if wire_type != LEN:
        raise WireError("malformed", f"message field {number} has wire type {wire_type}")
