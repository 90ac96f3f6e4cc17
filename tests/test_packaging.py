"""Packaging: the wheel and sdist install and run in a fresh venv, and the MCPB bundle starts the server."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
from mcp import Client, StdioServerParameters

from fakehex.upstream import FakeUpstream
from hex_mcp import __version__
from tests.test_registry_files import MANIFEST, resolve_mcp_config

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_FILES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "hex_mcp").rglob("*.py"))
# The pages the README links to travel with it, so its links resolve in an unpacked sdist too.
LINKED_PAGES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))
LINKED_PAGES += ["bench/README.md", "evals/README.md"]


def load_build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_mcpb", ROOT / "scripts" / "build_mcpb.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(*argv: str | Path, timeout: float = 120, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )  # type: ignore[call-overload]
    assert result.returncode == 0, f"{argv}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result  # type: ignore[no-any-return]


def test_version_is_single_sourced() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject
    assert 'path = "hex_mcp/__init__.py"' in pyproject
    assert (ROOT / "hex_mcp" / "py.typed").is_file()
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{__version__}] - " in changelog
    assert "MIT License" in (ROOT / "LICENSE").read_text(encoding="utf-8")


def test_vendored_bundle_narrows_compatibility() -> None:
    narrowed = load_build_script().vendored_manifest(MANIFEST)
    major, minor = sys.version_info[:2]
    assert narrowed["compatibility"]["runtimes"]["python"] == f">={major}.{minor},<{major}.{minor + 1}"
    assert len(narrowed["compatibility"]["platforms"]) == 1
    assert MANIFEST["compatibility"]["platforms"] == ["darwin", "win32", "linux"]  # the original is untouched


@pytest.mark.slow
@pytest.mark.anyio
async def test_mcpb_bundle_starts_the_server(fake: FakeUpstream, tmp_path: Path) -> None:
    outdir = tmp_path / "dist"
    bundle = outdir / f"hex-mcp-{__version__}.mcpb"
    build = (sys.executable, ROOT / "scripts" / "build_mcpb.py", "--no-vendor", "--outdir", outdir)
    run(*build)
    first = bundle.read_bytes()
    run(*build)
    assert bundle.read_bytes() == first, "two builds of the same tree differ"
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        assert json.loads(archive.read("manifest.json")) == MANIFEST
        archive.extractall(tmp_path / "extension")
    assert {"manifest.json", "LICENSE", "README.md", "hex_mcp/py.typed", *PACKAGE_FILES} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)

    extension = tmp_path / "extension"
    resolved = resolve_mcp_config(extension, {"oanor_api_key": "", "backend": "", "hex_api_key": ""})
    env = {
        **resolved["env"],
        "HEX_MCP_BASE_URL": fake.hexpm_url,
        "HEX_MCP_REGISTRY": "off",  # these pin the API path; no launched server may reach repo.hex.pm
        "HEX_MCP_CACHE_DIR": str(tmp_path / "cache"),
    }
    # The bundle's own source is what runs, not the checkout's editable install.
    where = run(sys.executable, "-c", "import hex_mcp; print(hex_mcp.__file__)", env=env, cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(extension)
    params = StdioServerParameters(command=sys.executable, args=resolved["args"], env=env, cwd=str(tmp_path))
    async with Client(params, mode="legacy") as client:
        tools = await client.list_tools()
        assert [t.name for t in tools.tools] == [t["name"] for t in MANIFEST["tools"]]
        assert not (await client.call_tool("hex_search", {"q": "json", "limit": 2})).is_error


@pytest.mark.slow
def test_wheel_and_sdist_install_and_run(fake: FakeUpstream, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    # --no-isolation: build with the dev environment's hatchling, so the test needs no network.
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT, timeout=180)
    wheel = next(dist.glob("mcp_server_hexpm-*.whl"))
    sdist = next(dist.glob("mcp_server_hexpm-*.tar.gz"))
    assert wheel.name.startswith(f"mcp_server_hexpm-{__version__}-")

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"mcp_server_hexpm-{__version__}.dist-info"
        metadata = archive.read(f"{info}/METADATA").decode()
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert {"hex_mcp/py.typed", *PACKAGE_FILES} <= names
    assert not any(n.startswith("tests/") for n in names)
    assert f"Version: {__version__}" in metadata
    assert "License-Expression: MIT" in metadata
    assert "hex-mcp = hex_mcp.cli:main" in entry_points
    assert "mcp-server-hexpm = hex_mcp.cli:main" in entry_points

    with tarfile.open(sdist) as archive:
        members = {m.name.split("/", 1)[1] for m in archive.getmembers() if "/" in m.name}
    assert {
        "pyproject.toml",
        "README.md",
        *LINKED_PAGES,
        "CHANGELOG.md",
        "LICENSE",
        "server.json",
        "manifest.json",
        "hex_mcp/py.typed",
        *PACKAGE_FILES,
    } <= members

    # A fresh venv holding only the wheel. Its dependencies are borrowed from this environment through a .pth
    # file, so the test stays offline while the package itself is imported from the fresh venv.
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    bindir = venv / ("Scripts" if sys.platform == "win32" else "bin")
    python = bindir / ("python.exe" if sys.platform == "win32" else "python")
    fresh_site = Path(
        run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    )
    (fresh_site / "borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-index",
        "--no-deps",
        wheel,
        timeout=300,
    )
    commands: list[list[str | Path]] = [
        [bindir / "hex-mcp", "--version"],
        [bindir / "mcp-server-hexpm", "--version"],
        [python, "-m", "hex_mcp", "--version"],
    ]
    for command in commands:
        assert run(*command, cwd=tmp_path).stdout.strip() == f"hex-mcp {__version__}"
    where = run(python, "-c", "import hex_mcp; print(hex_mcp.__file__)", cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(venv)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HEX_MCP_") and k not in ("OANOR_API_KEY", "HEX_API_KEY")
    }
    answer = run(
        bindir / "hex-mcp",
        "call",
        "hex_package",
        "name=jason",
        "--base-url",
        fake.hexpm_url,
        "--cache-dir",
        tmp_path / "cache",
        cwd=tmp_path,
        env=env,
    )
    assert answer.stdout.startswith("jason — ")


@pytest.mark.slow
def test_an_unpacked_sdist_collects_every_test_and_runs_the_data_dependent_ones(tmp_path: Path) -> None:
    # The sdist carries its tests and what they read (fixtures, fakehex, docs, evals, scripts): in the unpacked tree,
    # every test module imports and the tests that read files pass. The whole suite there is what CI runs here.
    run(
        sys.executable,
        "-m",
        "build",
        "--no-isolation",
        "--sdist",
        "--outdir",
        tmp_path / "dist",
        ROOT,
        timeout=180,
    )
    sdist = next((tmp_path / "dist").glob("mcp_server_hexpm-*.tar.gz"))
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    tree = next((tmp_path / "unpacked").iterdir())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    pytest_cmd = (sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-q")
    collected = run(*pytest_cmd, "--collect-only", "-m", "", cwd=tree, env=env, timeout=300)
    count = int(collected.stdout.strip().splitlines()[-1].split()[0])  # "1700 tests collected in 3.1s"
    assert count > 1_000, collected.stdout[-500:]
    files = (
        "tests/test_readme.py",
        "tests/test_layers.py",
        "tests/test_evals.py",
        "tests/test_hex_registry.py",
    )
    passed = run(*pytest_cmd, *files, cwd=tree, env=env, timeout=300)
    assert " passed" in passed.stdout.splitlines()[-1] and "failed" not in passed.stdout.splitlines()[-1]
