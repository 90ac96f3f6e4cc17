"""Is this Python one hex-mcp can run on? Checked by `python -m hex_mcp` before anything else is imported.

A Claude Desktop bundle (scripts/build_mcpb.py) carries its compiled dependencies (pydantic-core, cryptography)
built for one CPython minor version, and records it in `BUNDLE_PYTHON_FILE` next to the package. Started by
another Python, those imports would die with a raw ImportError deep in a dependency; this says which Python is
needed instead. Standard library only, and syntax old interpreters still parse, so the message itself always
gets out.
"""

from __future__ import annotations

import os
import sys

MINIMUM = (3, 11)
BUNDLE_PYTHON_FILE = "bundle-python.txt"  # at the bundle root, e.g. "3.11"


def bundle_python(root: str) -> tuple[int, int] | None:
    """The CPython minor version a bundle's dependencies were built for, if `root` is a bundle."""
    try:
        with open(os.path.join(root, BUNDLE_PYTHON_FILE), encoding="utf-8") as handle:
            major, minor = handle.read().strip().split(".")[:2]
        return int(major), int(minor)
    except (OSError, ValueError):
        return None


def python_problem(version: tuple[int, ...], root: str) -> str | None:
    """What is wrong with running under `version` from a tree rooted at `root`, or None."""
    running = ".".join(str(part) for part in version[:3])
    built_for = bundle_python(root)
    if built_for is not None and tuple(version[:2]) != built_for:
        wanted = f"{built_for[0]}.{built_for[1]}"
        return (
            f"hex-mcp: this bundle's dependencies were built for Python {wanted}, but it was started with "
            f"Python {running} ({sys.executable}). Point the host at a Python {wanted} interpreter, or install "
            "hex-mcp with pip/uvx for this Python instead of the bundle."
        )
    if tuple(version[:2]) < MINIMUM:
        wanted = f"{MINIMUM[0]}.{MINIMUM[1]}"
        return (
            f"hex-mcp needs Python {wanted} or newer, but it was started with Python {running} "
            f"({sys.executable}). Install a newer Python and start hex-mcp with it."
        )
    return None


def exit_if_unsupported() -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    problem = python_problem(sys.version_info[:3], root)
    if problem is not None:
        sys.stderr.write(problem + "\n")
        raise SystemExit(2)
