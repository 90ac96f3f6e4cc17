"""Decoders for the registry payload messages (hexpm/specifications registry/*.proto), on top of `wire`.

They run only on payloads whose signature has already been checked, but they still treat the bytes as untrusted:
every required field must be present, indexes must point inside their lists, checksums must be SHA-256 sized.
Any violation raises `WireError`, which the caller turns into a `RegistryError` naming the file.
Fields this reader does not know are skipped, as protobuf requires, so later additions to the schema do not break it.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hex_mcp.registry import wire
from hex_mcp.registry.model import (
    RegistryAdvisory,
    RegistryDependency,
    RegistryRelease,
    RegistryRetirement,
    RegistryVersionsEntry,
)
from hex_mcp.registry.wire import LEN, WireError

# Names as hex.pm's JSON API spells them, so both sources read alike.
RETIREMENT_REASONS = ("other", "invalid", "security", "deprecated", "renamed")
SEVERITIES = ("none", "low", "medium", "high", "critical")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SHA256_BYTES = 32
_NANOS_PER_SECOND = 1_000_000_000
_VERSION_TAG = 2 << 3 | LEN


def _enum_name(names: tuple[str, ...], value: int) -> str:
    # A newer server may add enum values; show them rather than failing or folding them into value 0.
    return names[value] if 0 <= value < len(names) else f"unknown({value})"


def _missing(message: str, field: str) -> WireError:
    return WireError("malformed", f"{message} has no {field}")


def decode_signed(buf: bytes) -> tuple[bytes, bytes | None]:
    """`Signed{payload = 1, signature = 2}` -> (payload, signature or None when absent or empty)."""
    payload: bytes | None = None
    signature: bytes | None = None
    for number, wire_type, a, b in wire.fields(buf, 0, len(buf)):
        if number == 1:
            payload = wire.blob(buf, wire_type, a, b, number)
        elif number == 2:
            signature = wire.blob(buf, wire_type, a, b, number)
    if payload is None:
        raise _missing("the Signed envelope", "payload")
    return payload, signature or None


def decode_timestamp(buf: bytes, start: int, end: int) -> datetime:
    seconds: int | None = None
    nanos: int | None = None
    for number, wire_type, a, _b in wire.fields(buf, start, end):
        if number == 1:
            seconds = wire.as_int64(wire.varint(wire_type, a, number))
        elif number == 2:
            nanos = wire.as_int32(wire.varint(wire_type, a, number))
    if seconds is None or nanos is None:
        raise _missing("a Timestamp", "seconds" if seconds is None else "nanos")
    if not 0 <= nanos < _NANOS_PER_SECOND:
        raise WireError("malformed", f"Timestamp nanos {nanos} is out of range")
    try:
        return _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError as error:
        raise WireError("malformed", f"Timestamp {seconds} s is out of the representable range") from error


def decode_dependency(buf: bytes, start: int, end: int) -> RegistryDependency:
    package: str | None = None
    requirement: str | None = None
    optional = False
    app: str | None = None
    repository: str | None = None
    for number, wire_type, a, b in wire.fields(buf, start, end):
        if number == 1:
            package = wire.text(buf, wire_type, a, b, number)
        elif number == 2:
            requirement = wire.text(buf, wire_type, a, b, number)
        elif number == 3:
            optional = wire.varint(wire_type, a, number) != 0
        elif number == 4:
            app = wire.text(buf, wire_type, a, b, number)
        elif number == 5:
            repository = wire.text(buf, wire_type, a, b, number)
    if package is None:
        raise _missing("a Dependency", "package")
    if requirement is None:
        raise _missing(f"Dependency {package}", "requirement")
    return RegistryDependency(package, requirement, optional, package if app is None else app, repository)


def decode_retirement(buf: bytes, start: int, end: int) -> RegistryRetirement:
    reason: int | None = None
    message: str | None = None
    for number, wire_type, a, b in wire.fields(buf, start, end):
        if number == 1:
            reason = wire.as_int32(wire.varint(wire_type, a, number))
        elif number == 2:
            message = wire.text(buf, wire_type, a, b, number)
    if reason is None:
        raise _missing("a RetirementStatus", "reason")
    return RegistryRetirement(_enum_name(RETIREMENT_REASONS, reason), message)


def decode_advisory(buf: bytes, start: int, end: int) -> RegistryAdvisory:
    strings: dict[int, str] = {}
    severity: str | None = None
    cvss: float | None = None
    aliases: list[str] = []
    for number, wire_type, a, b in wire.fields(buf, start, end):
        if number in (1, 2, 3, 6):
            strings[number] = wire.text(buf, wire_type, a, b, number)
        elif number == 4:
            severity = _enum_name(SEVERITIES, wire.as_int32(wire.varint(wire_type, a, number)))
        elif number == 5:
            score = wire.float32(buf, wire_type, a, number)
            if not (math.isfinite(score) and 0.0 <= score <= 10.0):
                raise WireError("malformed", f"SecurityAdvisory cvss_score {score} is not between 0 and 10")
            # The score travels as a 32-bit float (7.5 arrives as 7.5, 9.8 as 9.800000190...); CVSS scores have
            # one decimal, so rounding restores the published value.
            cvss = round(score, 1)
        elif number == 7:
            aliases.append(wire.text(buf, wire_type, a, b, number))
    for number, field in ((1, "id"), (2, "summary"), (3, "html_url"), (6, "api_url")):
        if number not in strings:
            raise _missing(f"SecurityAdvisory {strings.get(1, '')}".rstrip(), field)
    return RegistryAdvisory(strings[1], strings[2], strings[3], severity, cvss, strings[6], tuple(aliases))


def decode_release(buf: bytes, start: int, end: int) -> tuple[RegistryRelease, list[int] | None]:
    """A Release, with its raw advisory indexes (None when absent) for the package to resolve."""
    version: str | None = None
    inner: bytes | None = None
    outer: bytes | None = None
    dependencies: list[RegistryDependency] = []
    retirement: RegistryRetirement | None = None
    indexes: list[int] | None = None
    published_at: datetime | None = None
    for number, wire_type, a, b in wire.fields(buf, start, end):
        if number == 1:
            version = wire.text(buf, wire_type, a, b, number)
        elif number == 2:
            inner = wire.blob(buf, wire_type, a, b, number)
        elif number == 3:
            wire.submessage(wire_type, number)
            dependencies.append(decode_dependency(buf, a, b))
        elif number == 4:
            wire.submessage(wire_type, number)
            retirement = decode_retirement(buf, a, b)
        elif number == 5:
            outer = wire.blob(buf, wire_type, a, b, number)
        elif number == 6:
            # Declared unpacked; a packed encoding is just as valid on the wire and is accepted too.
            if indexes is None:
                indexes = []
            indexes.extend(wire.repeated_varints(buf, wire_type, a, b, number))
        elif number == 7:
            wire.submessage(wire_type, number)
            published_at = decode_timestamp(buf, a, b)
    if version is None:
        raise _missing("a Release", "version")
    if inner is None:
        raise _missing(f"Release {version}", "inner_checksum")
    for label, checksum in (("inner_checksum", inner), ("outer_checksum", outer)):
        if checksum is not None and len(checksum) != _SHA256_BYTES:
            raise WireError("malformed", f"Release {version} {label} is {len(checksum)} bytes, not 32")
    release = RegistryRelease(version, inner, outer, tuple(dependencies), retirement, None, published_at)
    return release, indexes


def decode_package(
    buf: bytes,
) -> tuple[str, str, tuple[RegistryRelease, ...], tuple[RegistryAdvisory, ...] | None]:
    """`Package` (package.proto) -> (name, repository, releases, advisories or None when unknown)."""
    name: str | None = None
    repository: str | None = None
    raw_releases: list[tuple[RegistryRelease, list[int] | None]] = []
    advisories: list[RegistryAdvisory] = []
    for number, wire_type, a, b in wire.fields(buf, 0, len(buf)):
        if number == 1:
            wire.submessage(wire_type, number)
            raw_releases.append(decode_release(buf, a, b))
        elif number == 2:
            name = wire.text(buf, wire_type, a, b, number)
        elif number == 3:
            repository = wire.text(buf, wire_type, a, b, number)
        elif number == 4:
            wire.submessage(wire_type, number)
            advisories.append(decode_advisory(buf, a, b))
    if name is None:
        raise _missing("the Package", "name")
    if repository is None:
        raise _missing("the Package", "repository")
    # Advisory data is known when the file shows some, or when it carries `published_at`: both fields came with
    # the same registry builder change (2026-05), so a file built since then that lists no advisory has none.
    # Otherwise absence is ambiguous (see RegistryPackage).
    known = (
        bool(advisories)
        or any(indexes is not None for _release, indexes in raw_releases)
        or any(release.published_at is not None for release, _indexes in raw_releases)
    )
    releases = []
    for release, indexes in raw_releases:
        if not known:
            releases.append(release)
            continue
        for index in indexes or ():
            if index >= len(advisories):
                raise WireError(
                    "malformed",
                    f"Release {release.version} points at advisory {index}, but the package lists "
                    f"{len(advisories)}",
                )
        releases.append(replace(release, advisory_indexes=tuple(indexes or ())))
    return name, repository, tuple(releases), tuple(advisories) if known else None


def _version_row(buf: bytes, start: int, end: int) -> RegistryVersionsEntry:
    """One package of /versions; `with_advisories` is None when the row has no such field (see decode_versions)."""
    name: str | None = None
    versions: list[str] = []
    retired: list[int] = []
    advised: list[int] | None = None
    pos = start
    while pos < end:
        # Fast path for the bulk of a /versions file: a version string (field 2, wire type 2, tag 0x12) shorter
        # than 128 bytes. Anything else takes the general reader.
        if buf[pos] == _VERSION_TAG and pos + 1 < end and buf[pos + 1] < 0x80:
            stop = pos + 2 + buf[pos + 1]
            if stop > end:
                raise WireError("truncated", f"a version string at byte {pos} runs past its package")
            versions.append(buf[pos + 2 : stop].decode("utf-8"))
            pos = stop
            continue
        number, wire_type, a, b, pos = wire.next_field(buf, pos, end)
        if number == 1:
            name = wire.text(buf, wire_type, a, b, number)
        elif number == 2:
            versions.append(wire.text(buf, wire_type, a, b, number))
        elif number == 3:
            retired.extend(wire.repeated_varints(buf, wire_type, a, b, number))
        elif number == 5:
            if advised is None:
                advised = []
            advised.extend(wire.repeated_varints(buf, wire_type, a, b, number))
    if name is None:
        raise _missing("a Versions package", "name")
    listed = tuple(versions)
    return RegistryVersionsEntry(
        name,
        listed,
        _pick(name, "retired", listed, retired),
        None if advised is None else _pick(name, "with_advisories", listed, advised),
    )


def decode_versions(buf: bytes) -> tuple[str, tuple[RegistryVersionsEntry, ...]]:
    """`Versions` (versions.proto) -> (repository, rows)."""
    repository: str | None = None
    rows: list[RegistryVersionsEntry] = []
    try:
        for number, wire_type, a, b in wire.fields(buf, 0, len(buf)):
            if number == 1:
                wire.submessage(wire_type, number)
                rows.append(_version_row(buf, a, b))
            elif number == 2:
                repository = wire.text(buf, wire_type, a, b, number)
    except UnicodeDecodeError as error:
        # The fast path in _version_row decodes version strings itself (the hot loop of a 60k-version file).
        raise WireError("malformed", "a version string is not valid UTF-8") from error
    if repository is None:
        raise _missing("the Versions index", "repository")
    if any(row.with_advisories is not None for row in rows):
        # The builder writes advisory indexes, so a row without them has none (see RegistryVersions).
        none: frozenset[str] = frozenset()
        rows = [
            row if row.with_advisories is not None else replace(row, with_advisories=none) for row in rows
        ]
    return repository, tuple(rows)


def _pick(name: str, field: str, versions: tuple[str, ...], indexes: list[int]) -> frozenset[str]:
    if not indexes:
        return frozenset()
    count = len(versions)
    for index in indexes:
        # Declared int32: a negative index arrives as a huge unsigned varint and fails this check too.
        if index >= count:
            raise WireError("malformed", f"{name} {field} index {index} is outside its {count} versions")
    return frozenset(versions[index] for index in indexes)


def decode_names(buf: bytes) -> tuple[str, tuple[str, ...], tuple[datetime | None, ...]]:
    """`Names` (names.proto) -> (repository, names, updated_at per name)."""
    repository: str | None = None
    names: list[str] = []
    updated: list[datetime | None] = []
    for number, wire_type, a, b in wire.fields(buf, 0, len(buf)):
        if number == 1:
            wire.submessage(wire_type, number)
            name: str | None = None
            updated_at: datetime | None = None
            for inner, inner_type, c, d in wire.fields(buf, a, b):
                if inner == 1:
                    name = wire.text(buf, inner_type, c, d, inner)
                elif inner == 3:
                    wire.submessage(inner_type, inner)
                    updated_at = decode_timestamp(buf, c, d)
            if name is None:
                raise _missing("a Names package", "name")
            names.append(name)
            updated.append(updated_at)
        elif number == 2:
            repository = wire.text(buf, wire_type, a, b, number)
    if repository is None:
        raise _missing("the Names index", "repository")
    return repository, tuple(names), tuple(updated)
