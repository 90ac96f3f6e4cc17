"""The Hex Registry v2 reader: real hex.pm-signed files, and every way a file can be rejected.

Real files are in tests/fixtures/registry (see its README). Synthetic ones come from fakehex/registry_files.py,
signed with a key generated for this module.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fakehex import registry_files as rb
from hex_mcp.errors import HexError
from hex_mcp.registry import (
    HEXPM_PUBLIC_KEY,
    RegistryAdvisory,
    RegistryDependency,
    RegistryError,
    RegistryNames,
    RegistryPackage,
    RegistryRetirement,
    RegistryVersions,
    RegistryVersionsEntry,
    hexpm_public_key,
    load_public_key,
    read_names,
    read_package,
    read_versions,
    wire,
)

FIXTURES = Path(__file__).parent / "fixtures" / "registry"
EXFMT = (FIXTURES / "packages-exfmt").read_bytes()
VERSIONS_2020 = (FIXTURES / "versions-2020").read_bytes()

# (version, inner checksum, outer checksum) of every exfmt release, decoded once from the real file and checked
# against hexpm-rust's expectations for the same file (its outer checksum of 0.0.0 starts 82, 48, 191, 145).
EXFMT_RELEASES = [
    (
        "0.0.0",
        "70733b93857851e399d68c6f669d744bfcd8192b3fc7cbbc85e29b194fc1d162",
        "5230bf915cac006cee47391765b1a1535bb612e8f9e11d0cf605d7a52039b36e",
    ),
    (
        "0.1.0",
        "b03a1d0e241f3776aa5c325e1553637a67b1952b0fed54b1196af1da338db8e7",
        "6ff6f0b076e50c0fa43dba03596a99e1f734f508d88b15e8c810d63bf1bc0906",
    ),
    (
        "0.2.0",
        "c62943e65a57d899774e180b6a8c42cabd363706836db4f65d5ba0a514f2f07a",
        "9509c0e554a26ecfa12b1f007ea80ef31f2bc3ee645b4e64d5b5659a6aa8aa6b",
    ),
    (
        "0.2.1",
        "46c2d66f13e5b7bf109bba1c004193f50937059cc84da2b068cc25933b51c88a",
        "9de51cd45cf90ef0eb681f0ca0c753c39a69de25dd50b5b771f0ea6b9055ff41",
    ),
    (
        "0.2.2",
        "d9515f25bc4cb77399ad4163ff9e85d19ccaaea88a4f57197802b1e4f4c19108",
        "70fa85bdb7c036da7337d861ccc9bfa8fa858afccaf04ac5e4eb5112f1079b26",
    ),
    (
        "0.2.3",
        "4c70404b2c56a2bb8f21a1d8f6f58092660981d0b5faa32001d6e9de78f65612",
        "83141da0ab7c077dd25811bdc731bfbe0ea226f734b0bd1107bc97981840aa1d",
    ),
    (
        "0.2.4",
        "28940245e12163911d103473d54defd9a93626a861814d3893bf6a190ee38fd9",
        "6da2b9a91a043e3ca736b6a18cc54b71b775f7c9dae40ea0739dc4336c1060d9",
    ),
    (
        "0.3.0",
        "8f7db438ce2972eaf57acea68853aa67cfa498b18cd9bb58873c4bd09e08b26b",
        "61325fd4f23bf5b18c4e4fb46cae77b01850da98b2e398f2207e4843de00adaa",
    ),
    (
        "0.4.0",
        "e0c4bc778a8672c5d08d7ecb51147fa17654c5ac0fe4c1067e1b4c83126309bb",
        "f6b2edd6d99e8f3482ba40325eafa15144ba044935e2eb90d154e788a5777a7e",
    ),
    (
        "0.5.0",
        "9d5cd174eb31a158654d97b62dfec9866e74f2c740dbdc97ea29a3147a701237",
        "97569ddada83f077c6d8caf0411139e454fc3bcff6311615342f338bbe095f6d",
    ),
]

NAME_AND_REPOSITORY = rb.field_text(2, "p") + rb.field_text(3, "hexpm")


def release_with(extra: bytes) -> bytes:
    """A Package field 1 holding a valid release 1.0.0 followed by `extra` fields."""
    return rb.field_bytes(1, rb.encode_release(rb.release("1.0.0")) + extra)


PUBLISHED = datetime(2026, 5, 14, 9, 30, 15, 123456, tzinfo=UTC)
ADVISORY = RegistryAdvisory(
    id="GHSA-aaaa-bbbb-cccc",
    summary="Header injection in conn",
    html_url="https://osv.dev/vulnerability/GHSA-aaaa-bbbb-cccc",
    severity="critical",
    cvss_score=9.8,
    api_url="https://api.osv.dev/v1/vulns/GHSA-aaaa-bbbb-cccc",
    aliases=("CVE-2026-1234", "EEF-CVE-2026-0001"),
)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rb.new_test_key()


def rejected(step: str, reader: Callable[..., object], *args: object, **kwargs: object) -> RegistryError:
    """Call `reader`, expect a RegistryError at `step`, return it for further checks."""
    with pytest.raises(RegistryError) as caught:
        reader(*args, **kwargs)
    assert caught.value.step == step, str(caught.value)
    return caught.value


def full_package() -> RegistryPackage:
    """A package using every field of package.proto."""
    return RegistryPackage(
        name="plug",
        repository="hexpm",
        releases=(
            rb.release("1.0.0", advisory_indexes=(), published_at=datetime(2015, 1, 2, tzinfo=UTC)),
            rb.release(
                "1.1.0",
                dependencies=(
                    RegistryDependency("mime", "~> 1.0", False, "mime", None),
                    RegistryDependency("cowboy", "~> 1.0 or ~> 2.0", True, "cowboy", None),
                    RegistryDependency("plug_crypto", ">= 0.0.0", False, "plug_crypto_app", None),
                    RegistryDependency("secret", "1.2.3", False, "secret", "acme"),
                ),
                retirement=RegistryRetirement("security", "use 1.1.1"),
                advisory_indexes=(0,),
                published_at=PUBLISHED,
            ),
            rb.release("1.1.1", retirement=RegistryRetirement("other", None), advisory_indexes=()),
        ),
        advisories=(ADVISORY,),
    )


# --- the embedded key -------------------------------------------------------------------------------------------


def test_embedded_key_is_hexpms_published_key() -> None:
    key = hexpm_public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    openssh = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    ssh_fingerprint = base64.b64encode(hashlib.sha256(base64.b64decode(openssh.split()[1])).digest())
    assert (FIXTURES / "hexpm_public_key.pem").read_bytes() == HEXPM_PUBLIC_KEY
    assert (
        hashlib.sha256(der).hexdigest() == "f137a9cdf0665cc355cfe330013760e55fbe0544072b6d4ef29169fd4141da73"
    )
    # The fingerprint Hex's own test pins for this key.
    assert ssh_fingerprint.rstrip(b"=") == b"O1LOYhHFW4kcrblKAxROaDEzLD8bn1seWbe5tq8TRsk"
    assert (key.key_size, key.public_numbers().e) == (2048, 65537)


def test_load_public_key_rejects_what_is_not_a_usable_rsa_key() -> None:
    with pytest.raises(ValueError, match="not a readable PEM public key"):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError, match="must be RSA; this one is"):
        load_public_key(ec_pem)
    small_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=1024)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError, match="has 1024 bits; at least 2048 are required"):
        load_public_key(small_pem)


# --- real hex.pm files -------------------------------------------------------------------------------------------


def test_real_package_file_verifies_and_decodes() -> None:
    package = read_package(EXFMT, name="exfmt")
    assert (package.name, package.repository, package.advisories) == ("exfmt", "hexpm", None)
    assert [
        (r.version, r.inner_checksum.hex(), r.outer_checksum and r.outer_checksum.hex())
        for r in package.releases
    ] == (EXFMT_RELEASES)
    # exfmt never had dependencies or a retirement, and the file predates the 2026 fields.
    assert {(r.dependencies, r.retirement, r.advisory_indexes, r.published_at) for r in package.releases} == {
        ((), None, None, None)
    }


def test_real_versions_snapshot_verifies_and_decodes() -> None:
    index = read_versions(VERSIONS_2020)
    names = [entry.name for entry in index.packages]
    assert index.repository == "hexpm"
    assert len(index.packages) == 10_147
    assert sum(len(entry.versions) for entry in index.packages) == 59_372
    assert sum(len(entry.retired) for entry in index.packages) == 1_134
    assert sum(1 for entry in index.packages if entry.retired) == 381
    assert (names[0], names[-1], names == sorted(names)) == ("a_message", "zxcvbn_nif", True)
    assert {entry.with_advisories for entry in index.packages} == {None}
    by_name = {entry.name: entry for entry in index.packages}
    assert by_name["absinthe"].retired == frozenset({"1.4.8"})
    assert by_name["ace"].retired == frozenset({"0.12.0", "0.15.6"})
    assert (len(by_name["phoenix"].versions), by_name["phoenix"].versions[-1]) == (98, "1.5.3")
    # The same versions as the package file, in the same (ascending) order.
    assert by_name["exfmt"] == RegistryVersionsEntry(
        "exfmt", tuple(version for version, *_ in EXFMT_RELEASES), frozenset(), None
    )


def test_real_files_fail_against_another_key(key: rsa.RSAPrivateKey) -> None:
    error = rejected("bad_signature", read_package, EXFMT, name="exfmt", public_key=key.public_key())
    assert str(error) == (
        "registry file for exfmt failed verification (bad signature): its RSA signature does not match its "
        "contents under the repository key. It was altered or not signed by the repository's key, so none of it "
        "was used; fetch it again from repo.hex.pm or use the hex.pm API."
    )
    assert isinstance(error, HexError)
    assert error.retryable is False
    rejected("bad_signature", read_versions, VERSIONS_2020, public_key=key.public_key())


def test_real_package_file_served_for_another_name_or_repository() -> None:
    error = rejected("wrong_name", read_package, EXFMT, name="phoenix")
    assert str(error).startswith(
        "registry file for phoenix failed verification (wrong name): it is signed for package 'exfmt', not "
        "'phoenix'. It is a genuine file of another package"
    )
    error = rejected("wrong_repository", read_package, EXFMT, name="exfmt", repository="acme")
    assert str(error).startswith(
        "registry file for exfmt (repository acme) failed verification (wrong repository): it is signed for "
        "repository 'hexpm', not 'acme'."
    )
    rejected("wrong_repository", read_versions, VERSIONS_2020, repository="acme")


# --- synthetic files: decoding -----------------------------------------------------------------------------------


@pytest.mark.parametrize("packed", [False, True], ids=["unpacked indexes", "packed indexes"])
def test_every_package_field_round_trips(key: rsa.RSAPrivateKey, packed: bool) -> None:
    package = full_package()
    body = rb.package_file(package, key, packed_indexes=packed)
    assert read_package(body, name="plug", public_key=key.public_key()) == package


def test_advisory_indexes_accept_mixed_packed_and_unpacked_occurrences(key: rsa.RSAPrivateKey) -> None:
    advisories = (ADVISORY, replace(ADVISORY, id="B"), replace(ADVISORY, id="C"))
    payload = rb.encode_package(RegistryPackage("p", "hexpm", (), advisories)) + rb.field_bytes(
        1,
        rb.encode_release(rb.release("1.0.0"))
        + rb.field_varint(6, 2)
        + rb.field_packed(6, [0, 1])
        + rb.field_varint(6, 1),
    )
    package = read_package(rb.signed_file(payload, key), name="p", public_key=key.public_key())
    assert package.releases[0].advisory_indexes == (2, 0, 1, 1)


def test_an_old_file_without_advisory_data_reads_as_unknown_not_none(key: rsa.RSAPrivateKey) -> None:
    package = RegistryPackage("p", "hexpm", (rb.release("1.0.0"),), None)
    decoded = read_package(rb.package_file(package, key), name="p", public_key=key.public_key())
    assert decoded.advisories is None
    assert decoded.releases[0].advisory_indexes is None


def test_a_file_with_published_at_and_no_advisory_has_none(key: rsa.RSAPrivateKey) -> None:
    # published_at and advisories came with the same builder change: such a file would list advisories.
    package = RegistryPackage(
        "p", "hexpm", (rb.release("1.0.0"), rb.release("1.1.0", published_at=PUBLISHED)), None
    )
    decoded = read_package(rb.package_file(package, key), name="p", public_key=key.public_key())
    assert decoded.advisories == ()
    assert [r.advisory_indexes for r in decoded.releases] == [(), ()]
    assert decoded.releases[1].published_at == PUBLISHED


def test_advisories_known_means_releases_without_indexes_have_none(key: rsa.RSAPrivateKey) -> None:
    package = RegistryPackage("p", "hexpm", (rb.release("1.0.0"), rb.release("2.0.0")), (ADVISORY,))
    decoded = read_package(rb.package_file(package, key), name="p", public_key=key.public_key())
    assert decoded.advisories == (ADVISORY,)
    assert [r.advisory_indexes for r in decoded.releases] == [(), ()]


def test_missing_published_at_and_outer_checksum_read_as_none(key: rsa.RSAPrivateKey) -> None:
    package = RegistryPackage("p", "hexpm", (rb.release("1.0.0", outer_checksum=None),), None)
    release = read_package(rb.package_file(package, key), name="p", public_key=key.public_key()).releases[0]
    assert (release.published_at, release.outer_checksum, release.inner_checksum) == (
        None,
        None,
        b"\x01" * 32,
    )


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("deprecated", "deprecated"),
        ("renamed", "renamed"),
        ("unknown(7)", "unknown(7)"),
        ("unknown(-1)", "unknown(-1)"),
    ],
)
def test_retirement_reasons_including_unknown_values(
    key: rsa.RSAPrivateKey, reason: str, expected: str
) -> None:
    package = RegistryPackage(
        "p", "hexpm", (rb.release("1.0.0", retirement=RegistryRetirement(reason, "m")),), None
    )
    release = read_package(rb.package_file(package, key), name="p", public_key=key.public_key()).releases[0]
    assert release.retirement == RegistryRetirement(expected, "m")


@pytest.mark.parametrize("severity", ["none", "low", "unknown(9)", None])
def test_advisory_severity_including_unknown_and_absent(key: rsa.RSAPrivateKey, severity: str | None) -> None:
    advisory = replace(ADVISORY, severity=severity, cvss_score=None, aliases=())
    package = RegistryPackage("p", "hexpm", (rb.release("1.0.0", advisory_indexes=(0,)),), (advisory,))
    decoded = read_package(rb.package_file(package, key), name="p", public_key=key.public_key())
    assert decoded.advisories == (advisory,)


def test_unknown_fields_are_skipped(key: rsa.RSAPrivateKey) -> None:
    extra = (
        rb.field_varint(90, 1)
        + rb.field_bytes(91, b"future")
        + rb.tag(92, 5)
        + b"\x00\x00\x80\x3f"
        + rb.tag(93, 1)
        + b"\x00" * 8
    )
    release = rb.release("1.0.0", retirement=RegistryRetirement("invalid", None))
    payload = rb.field_bytes(1, rb.encode_release(release) + extra) + rb.field_text(2, "p") + extra
    payload += rb.field_text(3, "hexpm")
    decoded = read_package(rb.signed_file(payload, key), name="p", public_key=key.public_key())
    assert decoded == RegistryPackage("p", "hexpm", (release,), None)


def test_versions_and_names_round_trip(key: rsa.RSAPrivateKey) -> None:
    versions = RegistryVersions(
        "acme",
        (
            RegistryVersionsEntry(
                "alpha", ("0.1.0", "1.0.0-rc.1", "1.0.0"), frozenset({"0.1.0"}), frozenset({"1.0.0"})
            ),
            RegistryVersionsEntry("beta", ("2.0.0",), frozenset(), frozenset()),
            # Over 127 bytes: its length takes two bytes, off the reader's fast path.
            RegistryVersionsEntry("gamma", ("1.0.0-" + "a" * 200,), frozenset(), frozenset()),
        ),
    )
    body = rb.versions_file(versions, key)
    assert read_versions(body, repository="acme", public_key=key.public_key()) == versions
    names = RegistryNames("acme", ("alpha", "beta"), (PUBLISHED, None))
    assert read_names(rb.names_file(names, key), repository="acme", public_key=key.public_key()) == names
    error = rejected("wrong_repository", read_names, rb.names_file(names, key), public_key=key.public_key())
    assert str(error).startswith("registry file /names failed verification (wrong repository)")


# --- synthetic files: rejection ----------------------------------------------------------------------------------


def test_bad_signatures(key: rsa.RSAPrivateKey) -> None:
    payload = rb.encode_package(full_package())
    signature = bytearray(rb.sign(payload, key))
    signature[17] ^= 1
    public = key.public_key()
    rejected(
        "bad_signature",
        read_package,
        rb.signed_file(payload, None, signature=bytes(signature)),
        name="plug",
        public_key=public,
    )
    # A signature over other bytes: the payload was changed after signing.
    altered = payload.replace(b"use 1.1.1", b"use 1.1.0")
    forged = rb.signed_file(altered, None, signature=rb.sign(payload, key))
    rejected("bad_signature", read_package, forged, name="plug", public_key=public)
    rejected(
        "bad_signature",
        read_package,
        rb.signed_file(payload, None, signature=b"\x00" * 3),
        name="plug",
        public_key=public,
    )
    # Signed by a key other than the repository's, here the embedded hex.pm key's place.
    rejected("bad_signature", read_package, rb.package_file(full_package(), key), name="plug")


def test_the_signature_is_checked_before_anything_in_the_payload(key: rsa.RSAPrivateKey) -> None:
    public = key.public_key()
    garbage = rb.signed_file(b"\xff\xff\xff", None, signature=b"\x01" * 256)
    rejected("bad_signature", read_package, garbage, name="p", public_key=public)
    other_repo = rb.encode_package(replace(full_package(), repository="acme"))
    unsigned_replay = rb.signed_file(other_repo, None, signature=b"\x01" * 256)
    rejected("bad_signature", read_package, unsigned_replay, name="plug_cowboy", public_key=public)


def test_missing_signature(key: rsa.RSAPrivateKey) -> None:
    payload = rb.encode_package(full_package())
    public = key.public_key()
    error = rejected(
        "missing_signature", read_package, rb.signed_file(payload, None), name="plug", public_key=public
    )
    assert str(error).startswith(
        "registry file for plug failed verification (missing signature): it carries no signature."
    )
    empty = rb.signed_file(payload, None, signature=b"")
    rejected("missing_signature", read_package, empty, name="plug", public_key=public)


def test_signed_files_for_another_repository_or_package(key: rsa.RSAPrivateKey) -> None:
    public = key.public_key()
    other_repo = rb.package_file(replace(full_package(), repository="acme"), key)
    rejected("wrong_repository", read_package, other_repo, name="plug", public_key=public)
    assert read_package(other_repo, name="plug", repository="acme", public_key=public).repository == "acme"
    rejected(
        "wrong_name",
        read_package,
        rb.package_file(full_package(), key),
        name="plug_cowboy",
        public_key=public,
    )
    versions = rb.versions_file(RegistryVersions("acme", ()), key)
    error = rejected("wrong_repository", read_versions, versions, public_key=public)
    assert str(error).startswith(
        "registry file /versions failed verification (wrong repository): it is signed for repository 'acme', "
        "not 'hexpm'."
    )


def test_not_gzip() -> None:
    error = rejected("not_gzip", read_package, b'{"status": 404}', name="plug")
    assert str(error).startswith(
        "registry file for plug failed verification (not gzip): it starts with 7b227374"
    )
    error = rejected("not_gzip", read_versions, b"")
    assert "it starts with nothing, not gzip's 1f8b" in str(error)


def test_truncated_gzip(key: rsa.RSAPrivateKey) -> None:
    body = rb.package_file(full_package(), key)
    public = key.public_key()
    for cut in (2, 20, len(body) // 2, len(body) - 1):
        error = rejected("truncated", read_package, body[:cut], name="plug", public_key=public)
        assert "its gzip stream ends before its end marker" in str(error)
    rejected("truncated", read_versions, VERSIONS_2020[:-8])


def test_corrupt_gzip_and_stray_bytes(key: rsa.RSAPrivateKey) -> None:
    body = bytearray(rb.package_file(full_package(), key))
    body[-6] ^= 0xFF  # inside the CRC-32 trailer
    error = rejected("malformed", read_package, bytes(body), name="plug", public_key=key.public_key())
    assert "its gzip data is corrupt" in str(error)
    error = rejected("malformed", read_package, EXFMT + b"\x00\x00", name="exfmt")
    assert "2 stray bytes follow the gzip data" in str(error)


def test_size_caps_on_the_download_and_on_what_it_unpacks_to() -> None:
    error = rejected("too_large", read_versions, VERSIONS_2020, max_bytes=100_000)
    assert str(error).startswith(
        "registry file /versions failed verification (too large): the download is 139,440 bytes, over 100,000."
    )
    error = rejected("too_large", read_versions, VERSIONS_2020, max_bytes=500_000)
    assert "it unpacks to more than 500,000 bytes" in str(error)
    # A gzip bomb: 60 KB that would unpack to 64 MiB; reading stops one byte past the cap.
    bomb = gzip.compress(b"\x00" * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100_000
    rejected("too_large", read_package, bomb, name="plug", max_bytes=1024 * 1024)
    # Exactly at the cap is allowed: the real file is read with max_bytes equal to its unpacked size.
    assert len(read_versions(VERSIONS_2020, max_bytes=583_845).packages) == 10_147
    rejected("too_large", read_versions, VERSIONS_2020, max_bytes=583_844)


def test_unreadable_envelope() -> None:
    error = rejected("truncated", read_names, gzip.compress(b"\x0a\x05ab"))
    assert "its Signed envelope is unreadable: field 1 at byte 0 declares 5 bytes" in str(error)
    error = rejected("malformed", read_names, gzip.compress(b"\x12\x02ab"))
    assert "its Signed envelope is unreadable: the Signed envelope has no payload" in str(error)
    rejected("malformed", read_names, gzip.compress(b"\x0b"))  # wire type 3 (group)


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        (rb.field_text(3, "hexpm"), "the Package has no name"),
        (rb.field_text(2, "p"), "the Package has no repository"),
    ]
    + [
        (payload + NAME_AND_REPOSITORY, detail)
        for payload, detail in [
            (rb.field_bytes(1, rb.field_bytes(2, b"\x01" * 32)), "a Release has no version"),
            (rb.field_bytes(1, rb.field_text(1, "1.0.0")), "Release 1.0.0 has no inner_checksum"),
            (
                rb.field_bytes(1, rb.field_text(1, "1.0.0") + rb.field_bytes(2, b"\x01" * 31)),
                "Release 1.0.0 inner_checksum is 31 bytes, not 32",
            ),
            (
                rb.field_bytes(
                    1, rb.encode_release(rb.release("1.0.0")) + rb.field_bytes(3, rb.field_text(1, "mime"))
                ),
                "Dependency mime has no requirement",
            ),
            (
                rb.field_bytes(1, rb.encode_release(rb.release("1.0.0", advisory_indexes=(1,)))),
                "Release 1.0.0 points at advisory 1, but the package lists 0",
            ),
            (
                rb.field_bytes(
                    1, rb.encode_release(rb.release("1.0.0")) + rb.field_bytes(7, rb.field_varint(1, 5))
                ),
                "a Timestamp has no nanos",
            ),
            (
                rb.field_bytes(1, rb.field_text(1, "1.0.0") + rb.field_varint(2, 5)),
                "bytes field 2 has wire type 0",
            ),
            (rb.field_bytes(2, b"\xff\xfe"), "string field 2 is not valid UTF-8"),
            (rb.tag(9, 0) + b"\x80" * 10 + b"\x01", "varint at byte 1 is longer than 10 bytes"),
            (rb.tag(99, 0) + b"\xff" * 9 + b"\x02", "varint at byte 2 does not fit in 64 bits"),
            (rb.tag(0, 0) + b"\x00", "field number 0 at byte 0"),
            (
                rb.field_bytes(4, rb.encode_advisory(replace(ADVISORY, cvss_score=11.0))),
                "SecurityAdvisory cvss_score 11.0 is not between 0 and 10",
            ),
            (
                rb.field_bytes(4, rb.field_text(1, "GHSA-x") + rb.field_text(2, "s") + rb.field_text(3, "u")),
                "SecurityAdvisory GHSA-x has no api_url",
            ),
            (rb.field_bytes(4, rb.field_text(2, "s")), "SecurityAdvisory has no id"),
            (rb.field_varint(2, 1), "string field 2 has wire type 0"),
            (
                rb.field_bytes(4, rb.encode_advisory(replace(ADVISORY, cvss_score=float("nan")))),
                "SecurityAdvisory cvss_score nan is not between 0 and 10",
            ),
            (rb.field_bytes(4, rb.field_varint(5, 7)), "float field 5 has wire type 0"),
            (rb.field_varint(1, 5), "message field 1 has wire type 0"),
            (release_with(rb.field_bytes(5, b"abc")), "Release 1.0.0 outer_checksum is 3 bytes, not 32"),
            (release_with(rb.field_bytes(3, rb.field_text(2, "~> 1.0"))), "a Dependency has no package"),
            (release_with(rb.field_bytes(4, rb.field_text(2, "gone"))), "a RetirementStatus has no reason"),
            (release_with(rb.field_bytes(4, rb.field_bytes(1, b"x"))), "integer field 1 has wire type 2"),
            (
                release_with(rb.field_bytes(4, rb.field_varint(1, 2**40))),
                "value 1099511627776 is out of range for an int32 field",
            ),
            (release_with(rb.tag(6, 5) + b"\x00" * 4), "repeated integer field 6 has wire type 5"),
            (release_with(rb.field_bytes(7, rb.field_varint(2, 0))), "a Timestamp has no seconds"),
            (
                release_with(rb.field_bytes(7, rb.field_varint(1, 0) + rb.field_varint(2, 10**9))),
                "Timestamp nanos 1000000000 is out of range",
            ),
            (
                release_with(rb.field_bytes(7, rb.field_varint(1, 2**62) + rb.field_varint(2, 0))),
                "Timestamp 4611686018427387904 s is out of the representable range",
            ),
        ]
    ],
    ids=lambda value: value if isinstance(value, str) else "payload",
)
def test_malformed_payloads_are_rejected_even_when_signed(
    key: rsa.RSAPrivateKey, payload: bytes, detail: str
) -> None:
    error = rejected(
        "malformed", read_package, rb.signed_file(payload, key), name="p", public_key=key.public_key()
    )
    assert error.detail == detail


def test_truncated_payload_is_rejected_even_when_signed(key: rsa.RSAPrivateKey) -> None:
    payload = rb.field_text(2, "p")[:-1]
    error = rejected(
        "truncated", read_package, rb.signed_file(payload, key), name="p", public_key=key.public_key()
    )
    assert error.detail == "field 2 at byte 0 declares 1 bytes but its message has 0 left"
    fixed = NAME_AND_REPOSITORY + rb.tag(9, 5) + b"\x00\x00"
    error = rejected(
        "truncated", read_package, rb.signed_file(fixed, key), name="p", public_key=key.public_key()
    )
    assert error.detail == "fixed-width field 9 at byte 10 runs past its message"
    cut_varint = NAME_AND_REPOSITORY + rb.tag(9, 0)
    error = rejected(
        "truncated", read_package, rb.signed_file(cut_varint, key), name="p", public_key=key.public_key()
    )
    assert error.detail == "varint at byte 11 runs past the end of its message"


@pytest.mark.parametrize(
    ("reader", "payload", "detail"),
    [
        (read_names, rb.field_bytes(1, rb.field_text(1, "a")), "the Names index has no repository"),
        (
            read_names,
            rb.field_bytes(1, rb.field_bytes(3, b"")) + rb.field_text(2, "hexpm"),
            "a Timestamp has no seconds",
        ),
        (read_names, rb.field_bytes(1, b"") + rb.field_text(2, "hexpm"), "a Names package has no name"),
        (read_versions, rb.field_bytes(1, rb.field_text(1, "a")), "the Versions index has no repository"),
        (
            read_versions,
            rb.field_bytes(1, rb.field_text(2, "1.0.0")) + rb.field_text(2, "hexpm"),
            "a Versions package has no name",
        ),
        (read_versions, rb.field_varint(1, 5) + rb.field_text(2, "hexpm"), "message field 1 has wire type 0"),
    ],
    ids=[
        "names without repository",
        "names bad timestamp",
        "names row without name",
        "versions without repository",
        "versions row without name",
        "versions row not a message",
    ],
)
def test_malformed_indexes_are_rejected_even_when_signed(
    key: rsa.RSAPrivateKey, reader: Callable[..., object], payload: bytes, detail: str
) -> None:
    error = rejected("malformed", reader, rb.signed_file(payload, key), public_key=key.public_key())
    assert error.detail == detail


def test_versions_indexes_outside_the_version_list_are_malformed(key: rsa.RSAPrivateKey) -> None:
    row = rb.field_text(1, "alpha") + rb.field_text(2, "1.0.0") + rb.field_packed(3, [1])
    body = rb.signed_file(rb.field_bytes(1, row) + rb.field_text(2, "hexpm"), key)
    error = rejected("malformed", read_versions, body, public_key=key.public_key())
    assert error.detail == "alpha retired index 1 is outside its 1 versions"
    negative = rb.field_text(1, "alpha") + rb.field_text(2, "1.0.0") + rb.field_varint(5, -1)
    body = rb.signed_file(rb.field_bytes(1, negative) + rb.field_text(2, "hexpm"), key)
    error = rejected("malformed", read_versions, body, public_key=key.public_key())
    assert error.detail == f"alpha with_advisories index {2**64 - 1} is outside its 1 versions"
    # A version string whose length byte points past its package row (the row itself is intact).
    cut = rb.field_bytes(1, rb.field_text(1, "alpha") + b"\x12\x05" + b"1.0") + rb.field_text(2, "hexpm")
    error = rejected("truncated", read_versions, rb.signed_file(cut, key), public_key=key.public_key())
    assert error.detail == "a version string at byte 9 runs past its package"
    bad_text = rb.field_bytes(1, rb.field_text(1, "alpha") + rb.field_bytes(2, b"\xff")) + rb.field_text(
        2, "hexpm"
    )
    error = rejected("malformed", read_versions, rb.signed_file(bad_text, key), public_key=key.public_key())
    assert error.detail == "a version string is not valid UTF-8"


def test_wire_int32_reinterpretation() -> None:
    assert wire.as_int32(2**64 - 1) == -1
    assert wire.as_int32(7) == 7
    with pytest.raises(wire.WireError, match="out of range for an int32"):
        wire.as_int32(2**31)


# --- registry files built from the API fixtures (what a fake upstream can serve) ---------------------------------


def test_registry_files_built_from_the_api_fixtures_read_back_unchanged(key: rsa.RSAPrivateKey) -> None:
    from fakehex.upstream import DEFAULT_FIXTURES, load_registry

    registry = load_registry(DEFAULT_FIXTURES)
    public = key.public_key()
    packages = []
    for name, doc in sorted(registry.packages.items()):
        package = rb.package_from_api(doc, lambda version, name=name: registry.release(name, version))
        assert read_package(rb.package_file(package, key), name=name, public_key=public) == package
        packages.append(package)
    by_name = {package.name: package for package in packages}

    hackney = by_name["hackney"]
    assert hackney.advisories == (
        RegistryAdvisory(
            id="EEF-CVE-2025-1211",
            summary="Server-side request forgery in hackney through inconsistent URL parsing",
            html_url="https://osv.dev/vulnerability/EEF-CVE-2025-1211",
            severity="high",
            cvss_score=8.7,
            api_url="https://api.osv.dev/v1/vulns/EEF-CVE-2025-1211",
            aliases=("CVE-2025-1211",),
        ),
    )
    assert [(r.version, r.advisory_indexes) for r in hackney.releases[-4:]] == [
        ("1.23.0", (0,)),
        ("1.24.0", ()),
        ("1.24.1", ()),
        ("1.25.0", ()),
    ]
    release_1_23 = hackney.releases[-4]
    assert release_1_23.outer_checksum == bytes.fromhex(
        "31c57ecdb12cf2ff2204a806569b7f99238d330c191a843f15017341d84ffec6"
    )
    assert release_1_23.published_at == datetime(2025, 3, 4, 11, 27, 45, 102934, tzinfo=UTC)
    assert [(d.package, d.requirement) for d in release_1_23.dependencies] == [
        ("certifi", "~> 2.15.0"),
        ("idna", "~> 6.1.0"),
        ("metrics", "~> 1.0.0"),
        ("mimerl", "~> 1.4"),
        ("parse_trans", "3.4.1"),
        ("ssl_verify_fun", "~> 1.1.0"),
        ("unicode_util_compat", "~> 0.7.1"),
    ]
    tiny_slug = by_name["tiny_slug"]
    assert [(r.version, r.retirement) for r in tiny_slug.releases] == [
        ("0.1.0", None),
        ("0.2.0", RegistryRetirement("invalid", "unicode handling bug, use 0.2.1")),
        ("0.2.1", None),
        ("0.3.0-rc.1", None),
    ]
    assert (tiny_slug.advisories, tiny_slug.releases[0].advisory_indexes) == ((), ())

    versions = rb.versions_from_packages(packages)
    assert read_versions(rb.versions_file(versions, key), public_key=public) == versions
    rows = {entry.name: entry for entry in versions.packages}
    assert (len(rows), rows["tiny_slug"].retired, rows["tiny_slug"].with_advisories) == (
        72,  # every fixture package, the nine whose releases ship a changelog tarball included
        frozenset({"0.2.0"}),
        frozenset(),
    )
    assert {"1.0.0", "1.23.0"} <= rows["hackney"].with_advisories
    assert "1.24.0" not in rows["hackney"].with_advisories
    names = rb.names_from_api(registry.packages.values())
    assert read_names(rb.names_file(names, key), public_key=public) == names
    assert names.updated_at[names.names.index("tiny_slug")] == datetime(
        2024, 11, 18, 21, 3, 40, 802113, tzinfo=UTC
    )
