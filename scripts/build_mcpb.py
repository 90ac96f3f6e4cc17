"""Build the Claude Desktop extension bundle `dist/hex-mcp-<version>.mcpb` (MCPB format, manifest 0.3).

    python scripts/build_mcpb.py              # self-contained bundle for this platform and Python
    python scripts/build_mcpb.py --no-vendor  # small bundle; the host's Python must already have the deps
    python scripts/build_mcpb.py --sync       # rewrite manifest.json's version and tools from the server

An `.mcpb` file is a zip with `manifest.json` at its root. This bundle holds:

    manifest.json        the repository's manifest (compatibility narrowed when dependencies are vendored)
    hex_mcp/             the package source, run as `python3 -m hex_mcp` (PYTHONPATH=${__dirname})
    lib/                 the runtime dependencies, from `pip install --target` (left out with --no-vendor)
    README.md, LICENSE

Why `server.type: "python"` with a vendored `lib/`: the MCPB spec requires a "python" bundle to carry its
dependencies, and the "uv" type (host-managed installs) is still experimental. The cost is that pydantic-core
(and the other compiled dependencies) are built for one platform and one CPython minor version, so a vendored
bundle only runs where it was built; the script therefore narrows `compatibility.platforms` and
`compatibility.runtimes.python` in the bundled manifest to the building interpreter. Build once per target
(e.g. in a CI matrix). Users on other setups can skip the bundle and point Claude Desktop's JSON config at
`uvx --from mcp-server-hexpm hex-mcp` instead (see the README).

The manifest's `mcp_config` works unchanged from a checkout: with `${__dirname}` = the repository root and a
Python that has the dependencies, it starts the same server (tests/test_registry_files.py does exactly that).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout: use the package next to this script

try:
    import anyio

    from hex_mcp import __version__
    from hex_mcp.config import Settings
    from hex_mcp.python_check import BUNDLE_PYTHON_FILE
    from hex_mcp.tryout import list_tools, one_line
except ModuleNotFoundError as exc:  # run by a Python without hex-mcp's dependencies
    raise SystemExit(
        f"build_mcpb.py needs hex-mcp's dependencies ({exc.name} is missing). Run it with the project's venv: "
        ". .venv/bin/activate && python scripts/build_mcpb.py (or: .venv/bin/python scripts/build_mcpb.py)"
    ) from None

MANIFEST = ROOT / "manifest.json"
SERVER_JSON = ROOT / "server.json"
EXTRA_FILES = ("README.md", "LICENSE")
# 1980-01-01: the earliest zip timestamp; fixed so that two builds of the same tree are byte-identical.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def dependencies() -> list[str]:
    """The runtime requirements, read from pyproject.toml so the bundle can never disagree with the wheel."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return list(project["dependencies"])


def source_files() -> list[Path]:
    """The package files a bundle carries: Python sources and the typing marker, never caches."""
    package = ROOT / "hex_mcp"
    return sorted(
        p
        for p in package.rglob("*")
        if p.is_file() and p.suffix in (".py", ".typed") and "__pycache__" not in p.parts
    )


def vendored_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest a vendored bundle ships: only this platform and this CPython minor version."""
    major, minor = sys.version_info[:2]
    platform = "win32" if sys.platform == "win32" else "darwin" if sys.platform == "darwin" else "linux"
    narrowed: dict[str, Any] = json.loads(json.dumps(manifest))
    compatibility = narrowed.setdefault("compatibility", {})
    compatibility["platforms"] = [platform]
    compatibility.setdefault("runtimes", {})["python"] = f">={major}.{minor},<{major}.{minor + 1}"
    return narrowed


def build(outdir: Path, *, vendor: bool) -> Path:
    version = __version__
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    if manifest.get("version") != version:
        raise SystemExit(
            f"manifest.json says version {manifest.get('version')!r} but hex_mcp is {version}: "
            "run `python scripts/build_mcpb.py --sync` first"
        )
    with tempfile.TemporaryDirectory(prefix="hex-mcp-mcpb-") as tmp:
        stage = Path(tmp)
        for path in source_files():
            target = stage / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        for name in EXTRA_FILES:
            if (ROOT / name).exists():
                shutil.copy2(ROOT / name, stage / name)
        if vendor:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--target",
                    str(stage / "lib"),
                    "--only-binary=:all:",
                    *dependencies(),
                ],
                check=True,
            )
            manifest = vendored_manifest(manifest)
            # `python -m hex_mcp` reads it and refuses another Python with a clear line (hex_mcp.python_check).
            (stage / BUNDLE_PYTHON_FILE).write_text(
                f"{sys.version_info[0]}.{sys.version_info[1]}\n", encoding="utf-8"
            )
        (stage / "manifest.json").write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        outdir.mkdir(parents=True, exist_ok=True)
        bundle = outdir / f"hex-mcp-{version}.mcpb"
        with zipfile.ZipFile(bundle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(p for p in stage.rglob("*") if p.is_file()):
                info = zipfile.ZipInfo(path.relative_to(stage).as_posix(), date_time=ZIP_DATE)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return bundle


def server_tools() -> list[dict[str, str]]:
    """Name and first sentence of each tool, listed in-process by the real server."""
    with tempfile.TemporaryDirectory() as tmp:
        tools = anyio.run(list_tools, Settings(cache_dir=Path(tmp), cache_enabled=False))
    return [{"name": t.name, "description": one_line(t.description, 300)} for t in tools]


def sync() -> None:
    """Bring manifest.json (version, tools) and server.json (versions) in line with the code."""
    version = __version__
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    manifest["version"] = version
    manifest["tools"] = server_tools()
    MANIFEST.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    server = json.loads(SERVER_JSON.read_text(encoding="utf-8"))
    server["version"] = version
    for package in server.get("packages", []):
        package["version"] = version
    SERVER_JSON.write_text(json.dumps(server, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"manifest.json and server.json now say {version}; manifest lists {len(manifest['tools'])} tools")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--outdir", type=Path, default=ROOT / "dist", help="where to write the bundle")
    parser.add_argument("--no-vendor", action="store_true", help="leave the dependencies out of the bundle")
    parser.add_argument("--sync", action="store_true", help="update manifest.json/server.json and exit")
    args = parser.parse_args(argv)
    if args.sync:
        sync()
        return 0
    bundle = build(args.outdir, vendor=not args.no_vendor)
    print(f"built {bundle} ({bundle.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
