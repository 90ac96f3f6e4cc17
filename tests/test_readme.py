"""README.md stays true: its commands, tool reference and configuration table match the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hex_mcp.cli import build_parser
from tests.readme_tools import END, START, tool_reference

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TEST_COMMAND = "python3 -m venv .venv && . .venv/bin/activate && pip install -q -e '.[dev]' && pytest"

pytestmark = pytest.mark.anyio


def test_readme_gives_the_two_commands_and_ci_runs_the_same_tests() -> None:
    assert "python3 -m venv .venv && . .venv/bin/activate && pip install -q . && hex-mcp" in README
    assert TEST_COMMAND in README
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


async def test_tool_reference_matches_the_server() -> None:
    start, end = README.index(START), README.index(END) + len(END)
    assert README[start:end] == await tool_reference(), "run: python -m tests.readme_tools"


def test_every_environment_variable_is_documented() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "hex_mcp").glob("*.py"))
    names = set(re.findall(r'get\("((?:HEX_MCP|HEX|OANOR)_[A-Z_]+)"\)', source))
    assert {"HEX_MCP_BACKEND", "OANOR_API_KEY", "HEX_MCP_CACHE_TTL"} <= names
    for name in sorted(names):
        assert f"`{name}" in README, f"{name} is missing from the README configuration table"


def test_every_flag_is_documented() -> None:
    flags = {s for action in build_parser()._actions for s in action.option_strings if s.startswith("--")}
    for flag in sorted(flags - {"--help"}):
        assert f"`{flag}" in README, f"{flag} is missing from the README"


def test_readme_never_suggests_the_wrong_pypi_name() -> None:
    assert "uvx hex-mcp" not in README.replace("do not `pip install hex-mcp` or `uvx hex-mcp`", "")
    assert "pip install hex-mcp" not in README.replace("do not `pip install hex-mcp` or `uvx hex-mcp`", "")
