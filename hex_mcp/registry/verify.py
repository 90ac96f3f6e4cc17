"""Read a Hex registry file: gunzip -> decode `Signed` -> verify the signature -> decode the payload -> origin check.

The order is the one hex_core and the Registry v2 specification use. The signature covers exactly the bytes of
`Signed.payload` (not the gzip stream, not the envelope), so it is checked on those bytes as received, before any
of the payload is decoded; a file that fails any step is rejected whole. The origin check then stops a mirror from
replaying a genuine file of another repository or another package in place of the one asked for.

hex.pm signs every registry file, its organizations' included, with one RSA-2048 key that has not changed since
2016 (hex.pm/docs/public_keys). It ships here, embedded, so it is never fetched from the server it vouches for.
`cryptography` is imported on first use: it adds ~30 ms to start-up, which tools that never read a registry file
should not pay.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, TypeVar

from hex_mcp.registry.decode import decode_names, decode_package, decode_signed, decode_versions
from hex_mcp.registry.model import RegistryError, RegistryNames, RegistryPackage, RegistryVersions
from hex_mcp.registry.wire import WireError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

__all__ = [
    "HEXPM_PUBLIC_KEY",
    "INDEX_MAX_BYTES",
    "PACKAGE_MAX_BYTES",
    "hexpm_public_key",
    "load_public_key",
    "read_names",
    "read_package",
    "read_versions",
]

# hex.pm's registry key, as embedded in Hex (lib/hex/repo.ex) and hex_core (src/hex_core.erl).
# SHA-256 of its DER SubjectPublicKeyInfo: f137a9cdf0665cc355cfe330013760e55fbe0544072b6d4ef29169fd4141da73.
HEXPM_PUBLIC_KEY = b"""-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEApqREcFDt5vV21JVe2QNB
Edvzk6w36aNFhVGWN5toNJRjRJ6m4hIuG4KaXtDWVLjnvct6MYMfqhC79HAGwyF+
IqR6Q6a5bbFSsImgBJwz1oadoVKD6ZNetAuCIK84cjMrEFRkELtEIPNHblCzUkkM
3rS9+DPlnfG8hBvGi6tvQIuZmXGCxF/73hU0/MyGhbmEjIKRtG6b0sJYKelRLTPW
XgK7s5pESgiwf2YC/2MGDXjAJfpfCd0RpLdvd4eRiXtVlE9qO9bND94E7PgQ/xqZ
J1i2xWFndWa6nfFnRxZmCStCOZWYYPlaxr+FZceFbpMwzTNs4g3d4tLNUcbKAIH4
0wIDAQAB
-----END PUBLIC KEY-----
"""

# Caps on both the downloaded body and its gunzipped size. A package file is ~1 KB for one release and a few tens
# of KB for hundreds; the 2021 /versions was 690 KB ungzipped and is expected around 1.5 MB in 2026. The caps
# leave an order of magnitude of growth while keeping a hostile gzip bomb to a bounded allocation.
PACKAGE_MAX_BYTES = 4 * 1024 * 1024
INDEX_MAX_BYTES = 32 * 1024 * 1024

_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_ONLY = 16 + zlib.MAX_WBITS  # wbits for a gzip header and trailer (CRC-32 and size are checked)
_MIN_KEY_BITS = 2048

_T = TypeVar("_T")


def load_public_key(pem: bytes) -> RSAPublicKey:
    """Parse a PEM `PUBLIC KEY` into an RSA key of at least 2048 bits; ValueError says what is wrong with it."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415  (lazy: see module docstring)
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey  # noqa: PLC0415

    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as error:
        raise ValueError(f"the registry public key is not a readable PEM public key: {error}") from error
    if not isinstance(key, RSAPublicKey):
        raise ValueError(f"the registry public key must be RSA; this one is {type(key).__name__}")
    if key.key_size < _MIN_KEY_BITS:
        raise ValueError(
            f"the registry public key has {key.key_size} bits; at least {_MIN_KEY_BITS} are required"
        )
    return key


@cache
def hexpm_public_key() -> RSAPublicKey:
    """The embedded hex.pm key, parsed once."""
    return load_public_key(HEXPM_PUBLIC_KEY)


def read_package(
    body: bytes,
    *,
    name: str,
    repository: str = "hexpm",
    public_key: RSAPublicKey | None = None,
    max_bytes: int = PACKAGE_MAX_BYTES,
) -> RegistryPackage:
    """Verify and decode `/packages/NAME` (or `/repos/ORG/packages/NAME`, with `repository=ORG`)."""
    subject = f"for {name}" if repository == "hexpm" else f"for {name} (repository {repository})"
    payload = _verified_payload(body, subject, public_key, max_bytes)
    got_name, got_repository, releases, advisories = _decoded(subject, decode_package, payload)
    _check_repository(subject, repository, got_repository)
    if got_name != name:
        raise RegistryError("wrong_name", subject, f"it is signed for package {got_name!r}, not {name!r}")
    return RegistryPackage(got_name, got_repository, releases, advisories)


def read_versions(
    body: bytes,
    *,
    repository: str = "hexpm",
    public_key: RSAPublicKey | None = None,
    max_bytes: int = INDEX_MAX_BYTES,
) -> RegistryVersions:
    """Verify and decode `/versions` (or `/repos/ORG/versions`, with `repository=ORG`)."""
    subject = _index_subject("versions", repository)
    payload = _verified_payload(body, subject, public_key, max_bytes)
    got_repository, packages = _decoded(subject, decode_versions, payload)
    _check_repository(subject, repository, got_repository)
    return RegistryVersions(got_repository, packages)


def read_names(
    body: bytes,
    *,
    repository: str = "hexpm",
    public_key: RSAPublicKey | None = None,
    max_bytes: int = INDEX_MAX_BYTES,
) -> RegistryNames:
    """Verify and decode `/names` (or `/repos/ORG/names`, with `repository=ORG`)."""
    subject = _index_subject("names", repository)
    payload = _verified_payload(body, subject, public_key, max_bytes)
    got_repository, names, updated_at = _decoded(subject, decode_names, payload)
    _check_repository(subject, repository, got_repository)
    return RegistryNames(got_repository, names, updated_at)


def _index_subject(kind: str, repository: str) -> str:
    return f"/{kind}" if repository == "hexpm" else f"/repos/{repository}/{kind}"


def _decoded(subject: str, decoder: Callable[[bytes], _T], payload: bytes) -> _T:
    try:
        return decoder(payload)
    except WireError as error:
        raise RegistryError(error.step, subject, error.detail) from error


def _check_repository(subject: str, expected: str, got: str) -> None:
    if got != expected:
        raise RegistryError(
            "wrong_repository", subject, f"it is signed for repository {got!r}, not {expected!r}"
        )


def _verified_payload(body: bytes, subject: str, public_key: RSAPublicKey | None, max_bytes: int) -> bytes:
    signed = gunzip(body, subject, max_bytes)
    try:
        payload, signature = decode_signed(signed)
    except WireError as error:
        raise RegistryError(
            error.step, subject, f"its Signed envelope is unreadable: {error.detail}"
        ) from error
    if signature is None:
        raise RegistryError("missing_signature", subject, "it carries no signature")
    verify_signature(payload, signature, hexpm_public_key() if public_key is None else public_key, subject)
    return payload


def gunzip(body: bytes, subject: str, max_bytes: int) -> bytes:
    """Gunzip a single-member gzip body, refusing to hold more than `max_bytes` of it, packed or unpacked."""
    if len(body) > max_bytes:
        raise RegistryError("too_large", subject, f"the download is {len(body):,} bytes, over {max_bytes:,}")
    if body[:2] != _GZIP_MAGIC:
        raise RegistryError(
            "not_gzip", subject, f"it starts with {body[:4].hex() or 'nothing'}, not gzip's 1f8b"
        )
    inflater = zlib.decompressobj(_GZIP_ONLY)
    try:
        # One byte past the cap tells "exactly at the limit" from "over it" without inflating the rest.
        data = inflater.decompress(body, max_bytes + 1)
    except zlib.error as error:
        raise RegistryError("malformed", subject, f"its gzip data is corrupt ({error})") from error
    if len(data) > max_bytes:
        raise RegistryError("too_large", subject, f"it unpacks to more than {max_bytes:,} bytes")
    if not inflater.eof:
        raise RegistryError("truncated", subject, "its gzip stream ends before its end marker")
    if inflater.unused_data:
        # hex.pm writes one gzip member; anything after it is not part of the signed file.
        raise RegistryError(
            "malformed", subject, f"{len(inflater.unused_data):,} stray bytes follow the gzip data"
        )
    return data


def verify_signature(payload: bytes, signature: bytes, key: RSAPublicKey, subject: str) -> None:
    """RSA PKCS#1 v1.5 / SHA-512 over the payload bytes exactly as received, as hex.pm signs them."""
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415  (lazy: see module docstring)
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import padding  # noqa: PLC0415

    try:
        key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA512())
    except InvalidSignature:
        raise RegistryError(
            "bad_signature", subject, "its RSA signature does not match its contents under the repository key"
        ) from None
