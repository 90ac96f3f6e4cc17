"""Elixir as the oracle: the pasted-dependencies parser agrees with Elixir's own parser on every fixture.

`tests/elixir/deps_truth.exs` reads each fixture with `Code.string_to_quoted` (mix.lock terms evaluated as the
literals they are, mix.exs walked as a syntax tree) and prints, per entry, whether it is a Hex dependency to
check (app, package, version, requirement), a dependency off public Hex, or an entry that cannot be read.
One `elixir` process covers all fixtures.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hex_mcp.deps_input import DepsInput, parse_deps
from hex_mcp.versions import Requirement

HERE = Path(__file__).parent
SCRIPT = HERE / "elixir" / "deps_truth.exs"
INPUTS = HERE / "fixtures" / "inputs"
FIXTURES = sorted(p for p in INPUTS.iterdir() if p.name.endswith((".lock", ".exs")))

Row = tuple[str, ...]

pytestmark = pytest.mark.skipif(
    shutil.which("elixir") is None, reason="elixir is not on PATH: no oracle to ask"
)


@pytest.fixture(scope="module")
def truth() -> dict[str, list[Row]]:
    """Every fixture's entries as Elixir reads them, from one elixir process."""
    names = [p.name for p in FIXTURES]
    done = subprocess.run(
        ["elixir", str(SCRIPT), *names],
        cwd=INPUTS,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        # A crashing VM must not leave an erl_crash.dump among the fixtures.
        env={**os.environ, "ERL_CRASH_DUMP_SECONDS": "0"},
    )
    assert done.returncode == 0, done.stderr
    rows: dict[str, list[Row]] = {name: [] for name in names}
    for line in done.stdout.splitlines():
        name, *fields = line.split("\t")
        assert fields[0] != "error", f"Elixir cannot parse {name}: {fields[1:]}"
        if fields[0] == "dep":
            app, package, version, requirement = fields[1:]
            # Elixir judged the requirement valid; compare it in the parser's normalized spelling.
            fields = [
                "dep",
                app,
                package,
                version,
                str(Requirement.parse(requirement)) if requirement else "",
            ]
        rows[name].append(tuple(fields))
    return rows


def python_rows(result: DepsInput) -> list[Row]:
    rows: list[Row] = [
        ("dep", dep.app or dep.name, dep.name, dep.version or "", dep.requirement or "")
        for dep in result.deps
    ]
    rows.extend((skip.kind, skip.name) for skip in result.skipped)
    return rows


def test_every_fixture_is_covered(truth: dict[str, list[Row]]) -> None:
    kinds = {row[0] for rows in truth.values() for row in rows}
    assert kinds == {"dep", "not_public", "unreadable"}
    assert len(truth["mix.lock"]) >= 40  # the large modern lock
    assert all(truth[name] for name in truth), [name for name in truth if not truth[name]]


@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_parser_agrees_with_elixir(truth: dict[str, list[Row]], path: Path) -> None:
    result = parse_deps(path.read_text(encoding="utf-8"))
    assert result.format == ("mix.lock" if path.name.endswith(".lock") else "mix.exs")
    assert sorted(python_rows(result)) == sorted(truth[path.name])
