"""Registry v2 reader: time to verify and decode real hex.pm registry files, whole and step by step.

    python -m bench.registry [-n 15]

Files: `tests/fixtures/registry/packages-exfmt` (one package, 10 releases, 1 KB) and `versions-2020` (every
package of July 2020: 10,147 packages, 59,372 versions; 139 KB gzip, 584 KB unpacked). Each row gives the median
and the fastest of N runs after one warm-up run, in one process, the rows of a file taking turns in each round:

- read: the whole `read_package` / `read_versions` call (gunzip, signature, decode, origin check);
- gunzip, verify, decode: the three costly steps alone.

When the official `protobuf` runtime is importable, two more rows decode the `/versions` payload with it (message
classes built at run time from descriptors, no protoc): parsing alone, and parsing plus copying the result into
the reader's dataclasses, which is what using it in place of the hand-written decoder would cost. protobuf is not
a dependency of hex-mcp; install it to see those rows.

Target: reading the whole `/versions` file takes at most 250 ms (it happens at most once per cache refresh).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._common import machine, markdown_table, verdict
from hex_mcp.registry import RegistryVersionsEntry, hexpm_public_key, read_package, read_versions
from hex_mcp.registry.decode import decode_package, decode_signed, decode_versions
from hex_mcp.registry.verify import gunzip, verify_signature

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "registry"
VERSIONS_TARGET_MS = 250.0


def time_interleaved(steps: list[tuple[str, Callable[[], object]]], runs: int) -> dict[str, list[float]]:
    """Milliseconds per run of each step, the steps taking turns within each round, so load on the shared
    machine (and garbage-collection passes, which every allocating step triggers) falls on all of them alike."""
    for _label, action in steps:
        action()  # warm-up: imports, the cached key, allocator
    times: dict[str, list[float]] = {label: [] for label, _action in steps}
    for _ in range(runs):
        for label, action in steps:
            started = time.perf_counter()
            action()
            times[label].append((time.perf_counter() - started) * 1000)
    return times


def protobuf_versions_decoders() -> tuple[Callable[[bytes], Any], Callable[[bytes], Any]] | None:
    """(parse only, parse and copy into dataclasses) with the official runtime, or None when it is absent."""
    try:
        # Optional and not a dependency, so imported only here.
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # noqa: PLC0415
    except ImportError:
        return None
    fdp = descriptor_pb2.FileDescriptorProto(
        name="bench_versions.proto", package="bench.versions", syntax="proto2"
    )
    field = descriptor_pb2.FieldDescriptorProto
    package = fdp.message_type.add(name="Package")
    package.field.add(name="name", number=1, type=field.TYPE_STRING, label=field.LABEL_REQUIRED)
    package.field.add(name="versions", number=2, type=field.TYPE_STRING, label=field.LABEL_REPEATED)
    for name, number in (("retired", 3), ("with_advisories", 5)):
        packed = package.field.add(
            name=name, number=number, type=field.TYPE_INT32, label=field.LABEL_REPEATED
        )
        packed.options.packed = True
    versions = fdp.message_type.add(name="Versions")
    versions.field.add(
        name="packages",
        number=1,
        type=field.TYPE_MESSAGE,
        type_name=".bench.versions.Package",
        label=field.LABEL_REPEATED,
    )
    versions.field.add(name="repository", number=2, type=field.TYPE_STRING, label=field.LABEL_REQUIRED)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    message_class = message_factory.GetMessageClass(pool.FindMessageTypeByName("bench.versions.Versions"))

    def parse(payload: bytes) -> Any:
        message = message_class()
        message.ParseFromString(payload)
        return message

    def parse_and_copy(payload: bytes) -> tuple[str, tuple[RegistryVersionsEntry, ...]]:
        message = parse(payload)
        entries = []
        for row in message.packages:
            names = tuple(row.versions)
            entries.append(
                RegistryVersionsEntry(
                    row.name,
                    names,
                    frozenset(names[i] for i in row.retired),
                    frozenset(names[i] for i in row.with_advisories) if row.with_advisories else None,
                )
            )
        return message.repository, tuple(entries)

    return parse, parse_and_copy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=15, help="timed runs per row (default 15)")
    runs = parser.parse_args(argv).runs

    exfmt = (FIXTURES / "packages-exfmt").read_bytes()
    versions = (FIXTURES / "versions-2020").read_bytes()
    key = hexpm_public_key()
    rows: list[list[object]] = []
    results: dict[str, float] = {}
    for label, body, read, decode in (
        ("/packages/exfmt", exfmt, lambda b: read_package(b, name="exfmt"), decode_package),
        ("/versions (2020)", versions, read_versions, decode_versions),
    ):
        signed = gunzip(body, label, len(body) * 100)
        payload, signature = decode_signed(signed)
        assert signature is not None
        steps: list[tuple[str, Callable[[], object]]] = [
            ("read (all steps)", lambda body=body, read=read: read(body)),
            ("gunzip", lambda body=body, label=label: gunzip(body, label, len(body) * 100)),
            (
                "verify RSA/SHA-512",
                lambda p=payload, s=signature, label=label: verify_signature(p, s, key, label),
            ),
            ("decode payload", lambda p=payload, decode=decode: decode(p)),
        ]
        decoders = protobuf_versions_decoders() if label.startswith("/versions") else None
        if decoders is not None:
            parse, parse_and_copy = decoders
            assert parse_and_copy(payload) == decode_versions(
                payload
            )  # the same answer, or the timing is moot
            steps += [
                ("protobuf: parse only", lambda p=payload, f=parse: f(p)),
                ("protobuf: parse + dataclasses", lambda p=payload, f=parse_and_copy: f(p)),
            ]
        for step, times in time_interleaved(steps, runs).items():
            results[f"{label} {step}"] = statistics.median(times)
            rows.append(
                [
                    label,
                    step,
                    f"{len(body):,}",
                    f"{len(payload):,}",
                    f"{statistics.median(times):.2f}",
                    f"{min(times):.2f}",
                ]
            )
        if label.startswith("/versions") and decoders is None:
            rows.append([label, "protobuf runtime (not installed)", "-", "-", "-", "-"])

    print(markdown_table(["file", "step", "gzip bytes", "payload bytes", "median ms", "min ms"], rows))
    versions_ms = results["/versions (2020) read (all steps)"]
    met = versions_ms <= VERSIONS_TARGET_MS
    print(
        f"\nTarget: whole /versions read <= {VERSIONS_TARGET_MS:.0f} ms: {versions_ms:.1f} ms, met: {verdict(met)}"
    )
    print(f"Median of {runs} runs each · {machine()}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
