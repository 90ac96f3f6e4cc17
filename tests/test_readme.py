"""The README and docs stay true: commands, tool reference, configuration table, size and links match the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hex_mcp.cli import build_parser
from tests.readme_tools import END, START, tool_reference

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
TEST_COMMAND = "python3 -m venv .venv && . .venv/bin/activate && pip install -q -e '.[dev]' && pytest"
# A README is an entry point; long material lives in docs/. 15 KiB keeps it readable on one screenful of scrolling.
README_MAX_BYTES = 15_360
# Every Markdown page a reader can reach from the README.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
PAGES += [ROOT / "evals" / "README.md"]

pytestmark = pytest.mark.anyio


def test_readme_gives_the_two_commands_and_ci_runs_the_same_tests() -> None:
    assert "python3 -m venv .venv && . .venv/bin/activate && pip install -q . && hex-mcp" in README
    assert TEST_COMMAND in README
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_tries_the_checkout_first_and_marks_the_pypi_forms() -> None:
    try_it = section(README, "Try it")
    assert try_it.index("uvx --from . hex-mcp") < try_it.index("uvx mcp-server-hexpm")
    assert try_it.index("pipx install .") < try_it.index("pipx install mcp-server-hexpm")
    assert "Once the package is published on PyPI" in try_it
    for command in ("hex-mcp call hex_package name=phoenix", "hex-mcp tools", "hex-mcp doctor"):
        assert command in try_it


def test_readme_sets_up_every_host() -> None:
    hosts = section(README, "Use it from your AI client")
    for needle in (
        "### Claude Desktop",
        ".venv/bin/hex-mcp",
        "~/Library/Logs/Claude/mcp*.log",
        "%APPDATA%\\Claude\\logs",
        "### VS Code",
        "### Cursor",
        "~/.cursor/mcp.json",
        "### Windsurf",
        "~/.codeium/windsurf/mcp_config.json",
        "### Claude Code",
        '--header "Authorization: Bearer $TOKEN"',
        "http://127.0.0.1:8000/mcp",
    ):
        assert needle in hosts, needle


async def test_tool_reference_matches_the_server() -> None:
    start, end = README.index(START), README.index(END) + len(END)
    assert README[start:end] == await tool_reference(), "run: python -m tests.readme_tools"


def test_every_environment_variable_is_documented() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "hex_mcp").glob("*.py"))
    names = set(re.findall(r'get\("((?:HEX_MCP|HEX|OANOR)_[A-Z_]+)"\)', source))
    assert {"HEX_MCP_BACKEND", "OANOR_API_KEY", "HEX_MCP_CACHE_TTL"} <= names
    for name in sorted(names):
        assert f"`{name}" in CONFIGURATION, f"{name} is missing from docs/configuration.md"


def test_every_flag_is_documented() -> None:
    flags = {s for action in build_parser()._actions for s in action.option_strings if s.startswith("--")}
    for flag in sorted(flags - {"--help"}):
        assert f"`{flag}" in CONFIGURATION, f"{flag} is missing from docs/configuration.md"


def test_readme_never_suggests_the_wrong_pypi_name() -> None:
    assert "uvx hex-mcp" not in README.replace("do not `pip install hex-mcp` or `uvx hex-mcp`", "")
    assert "pip install hex-mcp" not in README.replace("do not `pip install hex-mcp` or `uvx hex-mcp`", "")


def test_readme_is_an_entry_point_with_a_table_of_contents() -> None:
    assert len(README.encode("utf-8")) <= README_MAX_BYTES
    contents = section(README, "Contents")
    for heading in re.findall(r"^## (.+)$", README, flags=re.MULTILINE):
        if heading not in {"Contents", "License"}:
            assert f"(#{slug(heading)})" in contents, f"'{heading}' is missing from the table of contents"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", strip_code(text))
    for link in links:
        if re.match(r"[a-z]+:", link):  # https:, mailto:
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.is_file(), f"{page.name}: {link} points at a missing file"
        if anchor and target.suffix == ".md":
            assert anchor in anchors(target.read_text(encoding="utf-8")), (
                f"{page.name}: {link}: no such heading"
            )


def test_the_link_checker_catches_broken_links() -> None:
    text = "# Top\n## `hex-mcp doctor`, again\n```\n[not](a-link.md)\n```\n## Top\n"
    assert anchors(text) == {"top", "hex-mcp-doctor-again", "top-1"}
    assert re.findall(r"\]\(([^)\s]+)\)", strip_code(text + "see [x](y.md) and `[z](w.md)`")) == ["y.md"]


# -- helpers -----------------------------------------------------------------------------------------------


def section(text: str, heading: str) -> str:
    """The text under a `## heading`, up to the next `## `."""
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def strip_code(text: str) -> str:
    """Markdown without fenced blocks and inline code, where brackets are not links."""
    return re.sub(r"`[^`\n]*`", "", re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading anchor of a page, with GitHub's -1, -2 suffixes for repeated headings."""
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", strip_fences(text), flags=re.MULTILINE):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def strip_fences(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
