"""A wrong Python gets one clear line, from `python -m hex_mcp` (bundles) and from the bundle build script."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from hex_mcp.python_check import BUNDLE_PYTHON_FILE, python_problem

ROOT = Path(__file__).resolve().parent.parent


def test_an_old_python_is_told_the_minimum(tmp_path: Path) -> None:
    problem = python_problem((3, 10, 4), str(tmp_path))
    assert problem is not None
    assert problem.startswith("hex-mcp needs Python 3.11 or newer, but it was started with Python 3.10.4 (")


def test_a_bundle_names_the_python_its_dependencies_were_built_for(tmp_path: Path) -> None:
    (tmp_path / BUNDLE_PYTHON_FILE).write_text("3.11\n", encoding="utf-8")
    problem = python_problem((3, 12, 1), str(tmp_path))
    assert problem is not None
    assert problem.startswith(
        "hex-mcp: this bundle's dependencies were built for Python 3.11, but it was started with Python 3.12.1 ("
    )
    assert python_problem((3, 11, 9), str(tmp_path)) is None


def test_a_checkout_or_an_unreadable_marker_only_checks_the_minimum(tmp_path: Path) -> None:
    assert python_problem((3, 13, 0), str(tmp_path)) is None
    (tmp_path / BUNDLE_PYTHON_FILE).write_text("not a version", encoding="utf-8")
    assert python_problem((3, 13, 0), str(tmp_path)) is None


def test_python_m_hex_mcp_stops_before_importing_dependencies(tmp_path: Path) -> None:
    # A bundle laid out as build_mcpb.py lays it out, marked for a Python that does not exist.
    shutil.copytree(ROOT / "hex_mcp", tmp_path / "hex_mcp", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / BUNDLE_PYTHON_FILE).write_text("3.99\n", encoding="utf-8")
    # -S: no site-packages, so reaching any dependency import would fail with ModuleNotFoundError instead.
    done = subprocess.run(
        [sys.executable, "-S", "-m", "hex_mcp", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(
        "hex-mcp: this bundle's dependencies were built for Python 3.99, but it was"
    )
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1


def test_the_bundle_script_without_the_venv_says_to_activate_it() -> None:
    done = subprocess.run(
        [sys.executable, "-S", str(ROOT / "scripts" / "build_mcpb.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("build_mcpb.py needs hex-mcp's dependencies (")
    assert ". .venv/bin/activate && python scripts/build_mcpb.py" in done.stderr
    assert "Traceback" not in done.stderr
