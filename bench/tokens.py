"""Tokens: what each tool's text costs a model vs the raw upstream JSON it summarizes (o200k), both backends.

    python -m bench.tokens [--packages phoenix,ecto,...]

For the fixtures' most popular packages, every tool answer is compared with the upstream body an agent would
otherwise read for the same data:

- hex_package        ↔ hex.pm `GET /api/packages/NAME`        · gateway `/v1/package?name=NAME`
- hex_releases (50)  ↔ hex.pm `GET /api/packages/NAME` (the only source of the release list) · `/v1/releases`
- hex_release        ↔ `GET /api/packages/NAME/releases/LATEST_STABLE` · `/v1/release?name=&version=`
- hex_search (20)    ↔ `GET /api/packages?search=NAME&per_page=20` · `/v1/search?q=NAME&limit=20`

Target: tool text <= 20% of raw per tool and backend (ratio of sums). Each answer is also held to its budget
(package 300, releases 600, release 350, search 700, meta 250). Exit status 1 when a target is missed.
Deterministic: the fake upstream serves `fakehex/fixtures`, so the numbers only change when code or fixtures do.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client

from bench._common import machine, markdown_table, replay_upstream, verdict
from evals.runner import TEST_OANOR_KEY, TOOL_BUDGETS, count_tokens, text_of
from hex_mcp.config import Secret, Settings, TTLs
from hex_mcp.server import create_server

# The fixtures' most downloaded packages, plus the two frameworks every Elixir agent asks about.
PACKAGES = ("phoenix", "ecto", "jason", "plug", "telemetry", "hackney", "mime", "decimal")
TARGET_RATIO = 0.20


@dataclass
class Sample:
    tool: str
    backend: str
    package: str
    tool_tokens: int
    raw_tokens: int | None
    budget: int


def settings_for(backend: str, base_url: str, cache_dir: Path) -> Settings:
    # Answers are set against the raw API documents they stand for, so the API path is the one measured.
    base = Settings(
        cache_dir=cache_dir, retries=0, timeout=10.0, ttls=TTLs.uniform(86_400), max_rps=0.0, registry="off"
    )
    settings = base.with_backend("hexpm" if backend == "hexpm" else "oanor", base_url)
    if backend == "oanor":
        return Settings(**{**settings.__dict__, "oanor_api_key": Secret(TEST_OANOR_KEY)})
    return settings


async def raw_tokens(http: httpx2.AsyncClient, url: str, params: dict[str, Any]) -> int:
    response = await http.get(url, params=params)
    response.raise_for_status()
    return count_tokens(response.text)


async def measure(backend: str, root: str, packages: tuple[str, ...], cache_dir: Path) -> list[Sample]:
    base_url = f"{root}/hex-api" if backend == "oanor" else f"{root}/api"
    headers = {"user-agent": "hex-mcp-bench", "x-oanor-key": TEST_OANOR_KEY}
    samples: list[Sample] = []

    def add(tool: str, package: str, text: str, raw: int | None) -> None:
        samples.append(Sample(tool, backend, package, count_tokens(text), raw, TOOL_BUDGETS[tool]))

    async with (
        Client(create_server(settings_for(backend, base_url, cache_dir))) as client,
        httpx2.AsyncClient(headers=headers, timeout=10.0) as http,
    ):
        for name in packages:
            package = await client.call_tool("hex_package", {"name": name})
            structured = package.structured_content or {}
            stable = structured.get("latest_stable_version")
            releases = await client.call_tool("hex_releases", {"name": name, "limit": 50})
            release = await client.call_tool("hex_release", {"name": name, "version": stable})
            search = await client.call_tool("hex_search", {"q": name, "limit": 20})
            if backend == "hexpm":
                raw_package = await raw_tokens(http, f"{base_url}/packages/{name}", {})
                raw_releases = raw_package
                raw_release = await raw_tokens(http, f"{base_url}/packages/{name}/releases/{stable}", {})
                raw_search = await raw_tokens(http, f"{base_url}/packages", {"search": name, "per_page": 20})
            else:
                raw_package = await raw_tokens(http, f"{base_url}/v1/package", {"name": name})
                raw_releases = await raw_tokens(http, f"{base_url}/v1/releases", {"name": name, "limit": 50})
                raw_release = await raw_tokens(
                    http, f"{base_url}/v1/release", {"name": name, "version": stable}
                )
                raw_search = await raw_tokens(http, f"{base_url}/v1/search", {"q": name, "limit": 20})
            add("hex_package", name, text_of(package), raw_package)
            add("hex_releases", name, text_of(releases), raw_releases)
            add("hex_release", name, text_of(release), raw_release)
            add("hex_search", name, text_of(search), raw_search)
        # hex_meta reports this server (cache, quota, TTLs); no upstream body holds the same data.
        add("hex_meta", "-", text_of(await client.call_tool("hex_meta", {})), None)
    return samples


def summary_rows(samples: list[Sample]) -> tuple[list[list[object]], bool]:
    rows: list[list[object]] = []
    all_met = True
    for tool in ("hex_package", "hex_releases", "hex_release", "hex_search", "hex_meta"):
        for backend in ("hexpm", "oanor"):
            mine = [s for s in samples if s.tool == tool and s.backend == backend]
            if not mine:
                continue
            tool_sum = sum(s.tool_tokens for s in mine)
            raws = [s.raw_tokens for s in mine if s.raw_tokens is not None]
            ratio = tool_sum / sum(raws) if raws and len(raws) == len(mine) else None
            largest = max(s.tool_tokens for s in mine)
            budget_met = largest <= mine[0].budget
            ratio_met = ratio is None or ratio <= TARGET_RATIO
            all_met = all_met and budget_met and ratio_met
            rows.append(
                [
                    tool,
                    backend,
                    len(mine),
                    tool_sum,
                    sum(raws) if raws else "-",
                    f"{ratio:.1%}" if ratio is not None else "-",
                    verdict(ratio_met) if ratio is not None else "n/a",
                    largest,
                    mine[0].budget,
                    verdict(budget_met),
                ]
            )
    return rows, all_met


def detail_rows(samples: list[Sample]) -> list[list[object]]:
    return [
        [
            s.package,
            s.tool,
            s.backend,
            s.tool_tokens,
            s.raw_tokens if s.raw_tokens is not None else "-",
            f"{s.tool_tokens / s.raw_tokens:.1%}" if s.raw_tokens else "-",
        ]
        for s in sorted(samples, key=lambda s: (s.package, s.tool, s.backend))
    ]


async def run(packages: tuple[str, ...]) -> list[Sample]:
    samples: list[Sample] = []
    with replay_upstream() as fake, tempfile.TemporaryDirectory(prefix="hex-mcp-bench-") as tmp:
        for backend in ("hexpm", "oanor"):
            samples += await measure(backend, fake.url, packages, Path(tmp) / backend)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tokens", description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", default=",".join(PACKAGES), help="comma-separated package names")
    parser.add_argument("--detail", action="store_true", help="also print one row per package and tool")
    args = parser.parse_args(argv)
    packages = tuple(p.strip() for p in args.packages.split(",") if p.strip())
    samples = anyio.run(run, packages)
    rows, met = summary_rows(samples)
    print(f"## Tokens (o200k): tool text vs raw upstream JSON — {', '.join(packages)}\n")
    print(
        markdown_table(
            [
                "tool",
                "backend",
                "calls",
                "tool tokens",
                "raw tokens",
                "tool/raw",
                "<= 20%",
                "max answer",
                "budget",
                "budget met",
            ],
            rows,
        )
    )
    if args.detail:
        print()
        print(
            markdown_table(
                ["package", "tool", "backend", "tool tokens", "raw tokens", "tool/raw"], detail_rows(samples)
            )
        )
    print(f"\nmachine: {machine()} (token counts do not depend on it)")
    print("all targets met" if met else "TARGET MISSED: see the rows marked **no**")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
