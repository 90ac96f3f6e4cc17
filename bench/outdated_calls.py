"""API calls of one `hex_outdated` over a 40-dependency lock, per registry mode, against the fake upstream.

    python -m bench.outdated_calls

Each mode runs in a fresh cache with one in-process service. With the registry reachable (auto, only), every
dependency's versions and retirements come from its signed `/packages/NAME` file: target 0 API calls.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import anyio

from bench._common import machine, markdown_table, verdict
from evals.runner import TEST_OANOR_KEY, api_calls
from fakehex.upstream import FakeUpstream
from hex_mcp.config import Secret, Settings
from hex_mcp.service import HexService

DEPS = 40


async def _run(fake: FakeUpstream, settings: Settings, deps: str) -> tuple[int, int, int, float]:
    service = HexService(settings)
    try:
        api, repo = api_calls(fake), fake.count("/repo/")
        started = time.perf_counter()
        view = await service.outdated(deps)
        elapsed = (time.perf_counter() - started) * 1000
        return view.checked, api_calls(fake) - api, fake.count("/repo/") - repo, elapsed
    finally:
        await service.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.outdated_calls", description=__doc__.split("\n\n")[0]
    )
    parser.parse_args(argv)
    rows: list[list[object]] = []
    registry_calls = 0
    with (
        FakeUpstream(oanor_key=TEST_OANOR_KEY) as fake,
        tempfile.TemporaryDirectory(prefix="hex-mcp-bench-") as tmp,
    ):
        names = sorted(fake.registry.packages)[:DEPS]
        deps = "\n".join(f"{name} 0.1.0" for name in names)
        for backend in ("hexpm", "oanor"):
            for mode in ("off", "auto", "only"):
                settings = Settings(
                    cache_dir=Path(tmp) / backend / mode,
                    registry=mode,
                    repo_url=fake.repo_url,
                    repo_public_key=fake.repo_public_key_pem,
                    max_rps=0.0,  # the fake needs no pacing
                    oanor_api_key=Secret(TEST_OANOR_KEY),
                ).with_backend(backend, fake.oanor_url if backend == "oanor" else fake.hexpm_url)
                checked, api, repo, ms = anyio.run(_run, fake, settings, deps)
                if mode != "off":
                    registry_calls += api
                rows.append([backend, mode, checked, api, repo, f"{ms:.0f}"])
    print(f"## hex_outdated on a {len(names)}-dependency list (cold cache)\n")
    print(
        markdown_table(["backend", "HEX_MCP_REGISTRY", "checked", "API calls", "registry reads", "ms"], rows)
    )
    print(
        f"\nAPI calls with the registry reachable (target 0): {registry_calls} — {verdict(registry_calls == 0)}"
    )
    print(f"machine: {machine()}")
    return 0 if registry_calls == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
