"""Build Hex registry files for tests: encode the payload, sign it with a test key, wrap it in `Signed`, gzip it.

The output has the layout repo.hex.pm serves, so the reader's tests (and a fake upstream) can produce any file,
well-formed or not, signed by a key generated in the test session rather than hex.pm's.

    key = new_test_key()
    body = package_file(RegistryPackage("phoenix", "hexpm", (release("1.0.0"),), None), key)
    read_package(body, name="phoenix", public_key=key.public_key())

Values the reader reports as "unknown(N)" encode back to N, so unknown enum values can be built too.

`package_from_api` turns the hex.pm API documents of fakehex/fixtures into the matching registry package, so a
fake upstream can serve `/packages/NAME`, `/versions` and `/names` that agree with its JSON API:

    registry = load_registry(FIXTURES)          # fakehex.upstream
    pkg = package_from_api(registry.packages["hackney"], lambda v: registry.release("hackney", v))
"""

from __future__ import annotations

import gzip
import hashlib
import re
import struct
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fakehex.upstream import version_key
from hex_mcp.registry import (
    RegistryAdvisory,
    RegistryDependency,
    RegistryNames,
    RegistryPackage,
    RegistryRelease,
    RegistryRetirement,
    RegistryVersions,
    RegistryVersionsEntry,
)
from hex_mcp.registry.decode import RETIREMENT_REASONS, SEVERITIES

_UNKNOWN = re.compile(r"unknown\((-?\d+)\)")


def new_test_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 key (hex.pm's size); generating one takes tens of milliseconds, so share it per session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# --- wire format -----------------------------------------------------------------------------------------------


def varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int32/int64 negatives travel as 10-byte two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def field_varint(number: int, value: int) -> bytes:
    return tag(number, 0) + varint(value)


def field_bytes(number: int, value: bytes) -> bytes:
    return tag(number, 2) + varint(len(value)) + value


def field_text(number: int, value: str) -> bytes:
    return field_bytes(number, value.encode("utf-8"))


def field_float(number: int, value: float) -> bytes:
    return tag(number, 5) + struct.pack("<f", value)


def field_packed(number: int, values: Iterable[int]) -> bytes:
    return field_bytes(number, b"".join(varint(v) for v in values))


def _enum_value(names: tuple[str, ...], name: str) -> int:
    match = _UNKNOWN.fullmatch(name)
    return int(match.group(1)) if match else names.index(name)


# --- payload messages ------------------------------------------------------------------------------------------


def release(
    version: str,
    *,
    dependencies: tuple[RegistryDependency, ...] = (),
    retirement: RegistryRetirement | None = None,
    advisory_indexes: tuple[int, ...] | None = None,
    published_at: datetime | None = None,
    outer_checksum: bytes | None = b"\x02" * 32,
) -> RegistryRelease:
    """A release with placeholder checksums, for tests that care about other fields."""
    return RegistryRelease(
        version, b"\x01" * 32, outer_checksum, dependencies, retirement, advisory_indexes, published_at
    )


def encode_timestamp(moment: datetime) -> bytes:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    seconds = delta.days * 86400 + delta.seconds
    return field_varint(1, seconds) + field_varint(2, delta.microseconds * 1000)


def encode_dependency(dep: RegistryDependency) -> bytes:
    out = field_text(1, dep.package) + field_text(2, dep.requirement)
    if dep.optional:
        out += field_varint(3, 1)
    if dep.app != dep.package:  # as hex.pm writes it: the app only when it differs from the package name
        out += field_text(4, dep.app)
    if dep.repository is not None:
        out += field_text(5, dep.repository)
    return out


def encode_release(rel: RegistryRelease, *, packed_indexes: bool = False) -> bytes:
    out = field_text(1, rel.version) + field_bytes(2, rel.inner_checksum)
    out += b"".join(field_bytes(3, encode_dependency(dep)) for dep in rel.dependencies)
    if rel.retirement is not None:
        retired = field_varint(1, _enum_value(RETIREMENT_REASONS, rel.retirement.reason))
        if rel.retirement.message is not None:
            retired += field_text(2, rel.retirement.message)
        out += field_bytes(4, retired)
    if rel.outer_checksum is not None:
        out += field_bytes(5, rel.outer_checksum)
    if rel.advisory_indexes:
        if packed_indexes:
            out += field_packed(6, rel.advisory_indexes)
        else:  # hex.pm's encoding: the field is declared without [packed=true]
            out += b"".join(field_varint(6, index) for index in rel.advisory_indexes)
    if rel.published_at is not None:
        out += field_bytes(7, encode_timestamp(rel.published_at))
    return out


def encode_advisory(adv: RegistryAdvisory) -> bytes:
    out = field_text(1, adv.id) + field_text(2, adv.summary) + field_text(3, adv.html_url)
    if adv.severity is not None:
        out += field_varint(4, _enum_value(SEVERITIES, adv.severity))
    if adv.cvss_score is not None:
        out += field_float(5, adv.cvss_score)
    out += field_text(6, adv.api_url)
    out += b"".join(field_text(7, alias) for alias in adv.aliases)
    return out


def encode_package(pkg: RegistryPackage, *, packed_indexes: bool = False) -> bytes:
    out = b"".join(field_bytes(1, encode_release(r, packed_indexes=packed_indexes)) for r in pkg.releases)
    out += field_text(2, pkg.name) + field_text(3, pkg.repository)
    out += b"".join(field_bytes(4, encode_advisory(a)) for a in pkg.advisories or ())
    return out


def encode_versions(index: RegistryVersions) -> bytes:
    out = b""
    for entry in index.packages:
        row = field_text(1, entry.name) + b"".join(field_text(2, v) for v in entry.versions)
        positions = {v: i for i, v in enumerate(entry.versions)}
        if entry.retired:
            row += field_packed(3, sorted(positions[v] for v in entry.retired))
        if entry.with_advisories:
            row += field_packed(5, sorted(positions[v] for v in entry.with_advisories))
        out += field_bytes(1, row)
    return out + field_text(2, index.repository)


def encode_names(index: RegistryNames) -> bytes:
    out = b""
    for name, updated_at in zip(index.names, index.updated_at, strict=True):
        row = field_text(1, name)
        if updated_at is not None:
            row += field_bytes(3, encode_timestamp(updated_at))
        out += field_bytes(1, row)
    return out + field_text(2, index.repository)


# --- envelope --------------------------------------------------------------------------------------------------


def sign(payload: bytes, key: rsa.RSAPrivateKey) -> bytes:
    """RSA PKCS#1 v1.5 over SHA-512 of the payload bytes, as hex.pm signs."""
    return key.sign(payload, padding.PKCS1v15(), hashes.SHA512())


def signed_file(payload: bytes, key: rsa.RSAPrivateKey | None, *, signature: bytes | None = None) -> bytes:
    """gzip(Signed{payload, signature}); `key=None` leaves the signature out unless one is given."""
    if signature is None and key is not None:
        signature = sign(payload, key)
    envelope = field_bytes(1, payload)
    if signature is not None:
        envelope += field_bytes(2, signature)
    return gzip.compress(envelope, mtime=0)


def package_file(pkg: RegistryPackage, key: rsa.RSAPrivateKey, *, packed_indexes: bool = False) -> bytes:
    return signed_file(encode_package(pkg, packed_indexes=packed_indexes), key)


def versions_file(index: RegistryVersions, key: rsa.RSAPrivateKey) -> bytes:
    return signed_file(encode_versions(index), key)


def names_file(index: RegistryNames, key: rsa.RSAPrivateKey) -> bytes:
    return signed_file(encode_names(index), key)


# --- from the hex.pm API documents -------------------------------------------------------------------------------


def package_from_api(
    package: dict[str, Any], release: Callable[[str], dict[str, Any] | None], *, repository: str = "hexpm"
) -> RegistryPackage:
    """The registry view of a package, built from its API show document and a lookup of release documents.

    What the API does not carry is filled the way hex.pm's registry builder would, or deterministically: releases
    ascending by SemVer, dependencies sorted by name, `published_at` = the release's `inserted_at`, the inner
    checksum (not in the API) = SHA-256 of "inner:NAME-VERSION". Advisories are the package's non-withdrawn ones,
    each release pointing at those its release document lists; every release carries `published_at`, so a package
    without advisories reads back as having none (not as unknown). Versions without a release document are left
    out.
    """
    name = package["name"]
    advisories = [a for a in package.get("security_advisories", []) if not a.get("withdrawn_at")]
    positions = {advisory["id"]: i for i, advisory in enumerate(advisories)}
    releases = []
    for version in sorted((item["version"] for item in package["releases"]), key=version_key):
        doc = release(version)
        if doc is None:
            continue
        deps = tuple(
            RegistryDependency(
                dep, spec["requirement"] or ">= 0.0.0", bool(spec["optional"]), spec["app"], None
            )
            for dep, spec in sorted(doc.get("requirements", {}).items())
        )
        retired = doc.get("retirement")
        releases.append(
            RegistryRelease(
                version=version,
                inner_checksum=hashlib.sha256(f"inner:{name}-{version}".encode()).digest(),
                outer_checksum=bytes.fromhex(doc["checksum"]),
                dependencies=deps,
                retirement=RegistryRetirement(retired["reason"], retired.get("message")) if retired else None,
                advisory_indexes=tuple(
                    positions[a["id"]] for a in doc.get("security_advisories", []) if a["id"] in positions
                ),
                published_at=datetime.fromisoformat(doc["inserted_at"].replace("Z", "+00:00")),
            )
        )
    return RegistryPackage(
        name,
        repository,
        tuple(releases),
        tuple(
            RegistryAdvisory(
                id=a["id"],
                summary=a["summary"],
                html_url=a["html_url"],
                severity=a.get("cvss_rating") if a.get("cvss_rating") in SEVERITIES else None,
                cvss_score=a.get("cvss_score"),
                api_url=a["api_url"],
                aliases=tuple(a.get("aliases", [])),
            )
            for a in advisories
        ),
    )


def versions_from_packages(
    packages: Iterable[RegistryPackage], *, repository: str = "hexpm"
) -> RegistryVersions:
    """The `/versions` index of these packages (sorted by name, as hex.pm writes it)."""
    ordered = sorted(packages, key=lambda p: p.name)
    # As for package files: with no advisory anywhere, the file carries none and reads back as unknown.
    known = any(r.advisory_indexes for p in ordered for r in p.releases)
    entries = []
    for pkg in ordered:
        if not pkg.releases:
            continue  # hex.pm lists only packages with at least one release
        entries.append(
            RegistryVersionsEntry(
                pkg.name,
                tuple(r.version for r in pkg.releases),
                frozenset(r.version for r in pkg.releases if r.retirement is not None),
                frozenset(r.version for r in pkg.releases if r.advisory_indexes) if known else None,
            )
        )
    return RegistryVersions(repository, tuple(entries))


def names_from_api(packages: Iterable[dict[str, Any]], *, repository: str = "hexpm") -> RegistryNames:
    """The `/names` index: every package name with its API `updated_at`."""
    ordered = sorted(packages, key=lambda p: p["name"])
    return RegistryNames(
        repository,
        tuple(p["name"] for p in ordered),
        tuple(datetime.fromisoformat(p["updated_at"].replace("Z", "+00:00")) for p in ordered),
    )
