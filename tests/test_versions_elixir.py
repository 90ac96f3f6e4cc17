"""``hex_mcp.versions`` against the installed Elixir's ``Version``, on the unit tables and a seeded random corpus.

All inputs go to one ``elixir tests/elixir/version_oracle.exs`` run (module fixture), which answers
``Version.parse``, ``Version.compare``, ``Version.parse_requirement`` and ``Version.match?`` (with
``allow_pre`` true and false). Python must give the same answer except for the differences the
module docstring of ``hex_mcp.versions`` lists, each recognised here by what the input contains and
by the reason in the error, so an undocumented difference fails.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from hex_mcp.versions import Requirement, Version, VersionError
from tests.test_versions import (
    COMPARE_CASES,
    GRID,
    MATCH_CASES,
    PARSE_INVALID,
    PARSE_VALID,
    PRERELEASE_RULE,
    RELEASES,
    REQUIREMENT_INVALID,
    REQUIREMENT_NORMALIZED,
    TILDE_EDGES,
    TILDE_TABLE,
)

ELIXIR = shutil.which("elixir")
if ELIXIR is None:
    pytest.skip("elixir not installed: the differential tests need `elixir` on PATH", allow_module_level=True)

ORACLE = Path(__file__).parent / "elixir" / "version_oracle.exs"
SEED = 20261130
RANDOM_VERSIONS = 12_000
RANDOM_REQUIREMENTS = 12_000
VERSIONS_PER_REQUIREMENT = 8
COMPARE_PAIRS = 6_000

# Hand-picked edges: whitespace, precedence, the digit cap and the length bounds.
EDGE_VERSIONS = [
    "99999999999999.0.0",  # 14 digits: fine everywhere
    "100000000000000.0.0",  # 15 digits: current Elixir and this module reject, Elixir 1.14 accepts
    "1.100000000000000.0",
    "1.0.100000000000000",
    "1.0.0-100000000000000",
    "1.0.0-99999999999999",
    "1.0.0+build",
    "1.0.0-rc.1+build.5",
    "1.0.0+",
    "1.0.0-" + "a" * 130,  # longer than 128 characters
    "1.0.0-" + "a" * 122,  # exactly 128
    "1.0.0 ",
    "\t1.0.0",
    "1.0.0\n",
    "1. 0.0",
    "v1.0.0",
    "1.0.0-a.b-c.-",
    "0.0.0-0",
    "00.0.0",
    "1.0.0-00",
    "1.0.0-0a",
    "\u0661.0.0",
    "1.0.0-\u00e9",
    "",
]
EDGE_REQUIREMENTS = [
    "~>\t1.0",
    "~> 1.0\t",
    "1.0.0\tand 2.0.0",
    "~> 1.0\u00a0or ~> 2.0",
    "1.0.0  and  2.0.0",
    "   ~> 1.0   ",
    "~> 1.0 or~> 2.0",
    "~>1.0and 2.0.0",
    "1.0 .0",
    "> = 1.0.0",
    "!1.0.0",
    "!=1.0.0",
    "!==1.0.0",
    "===1.0.0",
    "=1.0.0",
    "1.0.0>=2.0.0",
    ">= 1.0.0 and< 2.0.0",
    "== 1.0.0 or == 2.0.0 and == 3.0.0",
    "== 3.0.0 and == 2.0.0 or == 1.0.0",
    "== 9.0.0 and == 1.0.0 or == 1.0.0 and == 9.0.0",
    "~> 1.0 and ~> 1.1 or ~> 3.0 and < 3.5.0",
    "== 1.0.0+build",
    "~> 1.0+build",
    "~> 100000000000000.0",
    ">= 1.0.0 and " * 80 + "< 2.0.0",  # longer than 1024 characters
    "and",
    "or 1.0.0",
    "1.0.0 or",
    "",
    " ",
]


# --- random corpus ------------------------------------------------------------------------------


def _number(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.55:
        return str(rng.randint(0, 3))
    if roll < 0.75:
        return str(rng.randint(0, 1000))
    if roll < 0.85:
        return str(rng.randint(10**12, 10**16))  # around the 14-digit cap
    if roll < 0.90:
        return "0" + str(rng.randint(0, 99))  # leading zero
    if roll < 0.92:
        return str(rng.randint(10**29, 10**30))
    return rng.choice(["", "x", "-1", "\u0661", " 1", "1 ", "1a", "+1"])


_IDENT_CHARS = "abcrdevXYZ-0123456789"


def _pre_identifier(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.35:
        return str(rng.randint(0, 12))
    if roll < 0.75:
        return rng.choice(["rc", "beta", "alpha", "dev", "a", "b", "Z", "0a", "-", "x-y"])
    if roll < 0.88:
        return "".join(rng.choice(_IDENT_CHARS) for _ in range(rng.randint(1, 6)))
    if roll < 0.93:
        return _number(rng)  # long numbers, leading zeros, junk
    return rng.choice(["", "a_b", "\u00e9", "a+b", "a b", "."])


def _random_version(rng: random.Random) -> str:
    parts = rng.choices([3, 2, 4, 1], weights=[90, 5, 3, 2])[0]
    text = ".".join(_number(rng) for _ in range(parts))
    if rng.random() < 0.4:
        text += "-" + ".".join(_pre_identifier(rng) for _ in range(rng.randint(1, 4)))
    if rng.random() < 0.1:
        text += "+" + ".".join(_pre_identifier(rng) for _ in range(rng.randint(0, 3)))
    roll = rng.random()
    if roll < 0.02:
        text = "v" + text
    elif roll < 0.04:
        text = rng.choice([" ", "\t", "\n"]) + text
    elif roll < 0.06:
        text += rng.choice([" ", "\t", "\u00a0"])
    return text


def _small_version(rng: random.Random, *, two_part: bool = False) -> str:
    """A valid version close to others, so that requirements and versions meet."""
    numbers = [str(rng.randint(0, 3)) for _ in range(2 if two_part else 3)]
    text = ".".join(numbers)
    if rng.random() < 0.35:
        text += "-" + ".".join(
            rng.choice(["0", "1", "2", "10", "rc", "dev", "beta", "a", "Z"]) for _ in range(rng.randint(1, 2))
        )
    return text


_OPERATOR_TEXTS = ["", "==", "!=", "!", ">", ">=", "<", "<=", "~>", "~>", "~>"]
_ODD_OPERATORS = ["=", ">>", "=>", "~", "<>", "~>=", "=="]


def _random_requirement(rng: random.Random) -> str:
    clauses = []
    for _ in range(rng.choices([1, 2, 3, 4, 6], weights=[40, 30, 15, 10, 5])[0]):
        op = rng.choice(_OPERATOR_TEXTS) if rng.random() < 0.97 else rng.choice(_ODD_OPERATORS)
        roll = rng.random()
        if roll < 0.85:
            operand = _small_version(rng, two_part=op == "~>" and rng.random() < 0.5)
        elif roll < 0.93:
            operand = _small_version(rng, two_part=True)
        elif roll < 0.95:
            operand = str(rng.randint(0, 3))
        else:
            operand = _random_version(rng)
        gap = rng.choices(["", " ", "  ", "\t"], weights=[20, 70, 8, 2])[0] if op else ""
        clauses.append(op + gap + operand)
    text = clauses[0]
    for clause in clauses[1:]:
        connective = rng.choices(
            [" and ", " or ", "  and ", " or  ", " and", "or ", " && ", "\tand "],
            weights=[180, 180, 6, 6, 1, 1, 1, 1],
        )[0]
        text += connective + clause
    roll = rng.random()
    if roll < 0.03:
        text = " " * rng.randint(1, 3) + text
    elif roll < 0.06:
        text += " " * rng.randint(1, 3)
    return text


def _neighbours(rng: random.Random, requirement: str) -> list[str]:
    """Versions at and around the requirement's operands, where matching rules differ."""
    found = re.findall(r"(\d+)\.(\d+)(?:\.(\d+))?(-[0-9A-Za-z.-]+)?", requirement)
    candidates: list[str] = []
    for major_text, minor_text, patch_text, pre in found[:4]:
        major, minor, patch = int(major_text), int(minor_text), int(patch_text or 0)
        if max(major, minor, patch) > 10**6:
            continue
        candidates += [
            f"{major}.{minor}.{patch}{pre}",
            f"{major}.{minor}.{patch}",
            f"{major}.{minor}.{patch + 1}-dev",
            f"{major}.{minor + 1}.0-0",
            f"{major}.{minor + 1}.0",
            f"{major + 1}.0.0-rc.1",
            f"{major + 1}.0.0",
            f"{major}.{minor}.{max(patch - 1, 0)}",
        ]
    picked = rng.sample(candidates, min(len(candidates), VERSIONS_PER_REQUIREMENT - 2))
    return picked + [_small_version(rng) for _ in range(VERSIONS_PER_REQUIREMENT - len(picked))]


@dataclass
class Corpus:
    versions: list[str]
    compares: list[tuple[str, str]]
    requirements: dict[str, list[str]]  # requirement -> the versions to match against it


def build_corpus() -> Corpus:
    rng = random.Random(SEED)
    versions = [text for text, *_ in PARSE_VALID] + [text for text, _ in PARSE_INVALID] + EDGE_VERSIONS
    versions += GRID + RELEASES
    versions += [_random_version(rng) for _ in range(RANDOM_VERSIONS)]
    versions += [_small_version(rng) for _ in range(RANDOM_VERSIONS // 4)]

    compares = [(a, b) for a, b, _ in COMPARE_CASES]
    valid = [text for text in versions if Version.try_parse(text) is not None]
    compares += [(rng.choice(valid), rng.choice(valid)) for _ in range(COMPARE_PAIRS)]
    compares += [(_small_version(rng), _small_version(rng)) for _ in range(COMPARE_PAIRS)]

    requirements: dict[str, list[str]] = {}

    def add(requirement: str, targets: list[str]) -> None:
        requirements.setdefault(requirement, []).extend(targets)

    for requirement, version, *_ in MATCH_CASES + PRERELEASE_RULE + TILDE_EDGES:
        add(requirement, [version])
    for tilde, translation in TILDE_TABLE:
        add(tilde, GRID)
        add(translation, GRID)
    for text, normalized in REQUIREMENT_NORMALIZED:
        add(text, GRID[:10])
        add(normalized, GRID[:10])
    for text, _ in REQUIREMENT_INVALID:
        add(text, [])
    for text in EDGE_REQUIREMENTS:
        add(text, [*_neighbours(rng, text), "1.0.0", "2.0.0", "3.0.0", "1.0.0-rc.1"])
    for _ in range(RANDOM_REQUIREMENTS):
        text = _random_requirement(rng)
        add(text, _neighbours(rng, text))
    return Corpus(versions, compares, requirements)


# --- talking to Elixir --------------------------------------------------------------------------

ElixirVersion = tuple[int, int, int, tuple[int | str, ...], str | None]


@dataclass
class Answers:
    parse: dict[str, ElixirVersion | None]
    compare: dict[tuple[str, str], str]
    # requirement -> None (Elixir rejects it) or {version: (allow_pre true, allow_pre false)}
    match: dict[str, dict[str, tuple[bool, bool]] | None]


def _hex(text: str) -> str:
    return text.encode("utf-8").hex()


def _unhex(text: str) -> str:
    return bytes.fromhex(text).decode("utf-8")


def _read_version(line: str) -> ElixirVersion | None:
    if line == "error":
        return None
    _, major, minor, patch, pre_text, build_text = line.split(" ")
    pre: tuple[int | str, ...] = ()
    if pre_text != "-":
        pre = tuple(int(item[1:]) if item[0] == "i" else _unhex(item[1:]) for item in pre_text.split(","))
    build = None if build_text == "-" else _unhex(build_text)
    return int(major), int(minor), int(patch), pre, build


def ask_elixir(corpus: Corpus, tmp: Path) -> Answers:
    lines: list[str] = []
    parse_inputs = list(dict.fromkeys(corpus.versions))
    lines += [f"P {_hex(text)}" for text in parse_inputs]
    requirement_inputs = list(corpus.requirements)
    for requirement in requirement_inputs:
        unique = dict.fromkeys(corpus.requirements[requirement])
        lines.append(f"M {_hex(requirement)} {','.join(_hex(v) for v in unique)}")
    answers = _run(lines, tmp / "batch1.txt")
    parse = {
        text: _read_version(line)
        for text, line in zip(parse_inputs, answers[: len(parse_inputs)], strict=True)
    }
    match: dict[str, dict[str, tuple[bool, bool]] | None] = {}
    for requirement, line in zip(requirement_inputs, answers[len(parse_inputs) :], strict=True):
        if line == "error":
            match[requirement] = None
            continue
        targets = list(dict.fromkeys(corpus.requirements[requirement]))
        codes = line.split(" ") if targets else []
        assert len(codes) == len(targets), requirement
        match[requirement] = {
            v: (c[0] == "1", c[1] == "1") for v, c in zip(targets, codes, strict=True) if c != "e"
        }

    elixir_valid = {text for text, answer in parse.items() if answer is not None}
    pairs = [(a, b) for a, b in dict.fromkeys(corpus.compares) if a in elixir_valid and b in elixir_valid]
    compared = _run([f"C {_hex(a)} {_hex(b)}" for a, b in pairs], tmp / "batch2.txt")
    return Answers(parse, dict(zip(pairs, compared, strict=True)), match)


def _run(lines: list[str], path: Path) -> list[str]:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    assert ELIXIR is not None
    result = subprocess.run(
        [ELIXIR, str(ORACLE), str(path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    answers = result.stdout.splitlines()
    assert len(answers) == len(lines), (len(answers), len(lines), result.stderr[-2000:])
    return answers


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return build_corpus()


@pytest.fixture(scope="module")
def elixir(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Answers:
    return ask_elixir(corpus, tmp_path_factory.mktemp("elixir-oracle"))


# --- the documented differences -----------------------------------------------------------------

_LONG_NUMBER = re.compile(r"(?<![0-9])[1-9][0-9]{14,}")


def documented_reasons(text: str, *, requirement: bool) -> list[str]:
    """The error phrases of the documented differences that ``text`` could trip; [] when none applies."""
    reasons = []
    if "+" in text:
        reasons.append("build metadata")
    if _LONG_NUMBER.search(text):
        reasons.append("more than 14 digits")
    tokens = text.split(" ") if requirement else [text]
    if (requirement and len(text) > 1024) or any(len(token) > 128 for token in tokens):
        reasons.append("longer than")
    return reasons


def _first(mismatches: list[str], limit: int = 15) -> str:
    return f"{len(mismatches)} disagreements with Elixir, first {limit}:\n" + "\n".join(mismatches[:limit])


# --- the tests ----------------------------------------------------------------------------------


def test_corpus_is_large_enough(corpus: Corpus) -> None:
    versions, requirements = len(set(corpus.versions)), len(corpus.requirements)
    assert versions + requirements >= 20_000, (versions, requirements)
    pairs = sum(len(set(targets)) for targets in corpus.requirements.values())
    assert pairs >= 50_000, pairs


def test_parse_agrees(elixir: Answers) -> None:
    mismatches = []
    documented = 0
    for text, answer in elixir.parse.items():
        try:
            ours = Version.parse(text)
        except VersionError as exc:
            if answer is None:
                continue
            reasons = documented_reasons(text, requirement=False)
            if any(reason in str(exc) for reason in reasons):
                documented += 1
                continue
            mismatches.append(f"{text!r}: Elixir {answer}, we reject: {exc}")
            continue
        expected = None if answer is None else answer[:4]
        if (ours.major, ours.minor, ours.patch, ours.pre) != expected:
            mismatches.append(f"{text!r}: Elixir {answer}, we parse {ours!r}")
    assert not mismatches, _first(mismatches)
    assert documented > 100  # the corpus does exercise the documented differences


def test_compare_agrees(elixir: Answers) -> None:
    mismatches = []
    checked = 0
    for (a, b), answer in elixir.compare.items():
        va, vb = Version.try_parse(a), Version.try_parse(b)
        if va is None or vb is None:
            continue  # a documented difference, checked by test_parse_agrees
        checked += 1
        ours = "gt" if va > vb else "lt" if va < vb else "eq"
        if ours != answer or (va == vb) != (answer == "eq"):
            mismatches.append(f"compare({a!r}, {b!r}): Elixir {answer}, we {ours}")
    assert not mismatches, _first(mismatches)
    assert checked > 8_000


def test_parse_requirement_agrees(elixir: Answers) -> None:
    mismatches = []
    accepted = documented = 0
    for text, answer in elixir.match.items():
        try:
            Requirement.parse(text)
        except VersionError as exc:
            if answer is None:
                continue
            if any(reason in str(exc) for reason in documented_reasons(text, requirement=True)):
                documented += 1
                continue
            mismatches.append(f"{text!r}: Elixir accepts, we reject: {exc}")
            continue
        accepted += 1
        if answer is None:
            mismatches.append(f"{text!r}: Elixir rejects, we accept")
    assert not mismatches, _first(mismatches)
    assert accepted > 5_000
    assert documented > 10


def test_match_agrees(elixir: Answers) -> None:
    mismatches = []
    checked = 0
    for text, answer in elixir.match.items():
        requirement = _try_requirement(text)
        if answer is None or requirement is None:
            continue  # parse disagreements are test_parse_requirement_agrees' business
        for version_text, (lenient, strict) in answer.items():
            version = Version.try_parse(version_text)
            if version is None:
                continue
            checked += 1
            ours = (
                requirement.matches(version, allow_pre=True),
                requirement.matches(version, allow_pre=False),
            )
            if ours != (lenient, strict):
                mismatches.append(
                    f"match?({version_text!r}, {text!r}) allow_pre true/false: Elixir {(lenient, strict)}, we {ours}"
                )
    assert not mismatches, _first(mismatches)
    assert checked > 45_000


def _try_requirement(text: str) -> Requirement | None:
    try:
        return Requirement.parse(text)
    except VersionError:
        return None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("100000000000000.0.0", "more than 14 digits"),
        ("1.0.100000000000000", "more than 14 digits"),
        ("1.0.0-100000000000000", "more than 14 digits"),
        ("1.0.0+build", "build metadata"),
        ("1.0.0-" + "a" * 130, "longer than 128"),
    ],
)
def test_documented_version_differences_are_real(elixir: Answers, text: str, reason: str) -> None:
    """Elixir 1.14 accepts each of these; we reject it, for the reason the module docstring gives."""
    assert elixir.parse[text] is not None
    with pytest.raises(VersionError, match=reason):
        Version.parse(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("== 1.0.0+build", "build metadata"),
        ("~> 100000000000000.0", "more than 14 digits"),
        (">= 1.0.0 and " * 80 + "< 2.0.0", "longer than 1024"),
    ],
)
def test_documented_requirement_differences_are_real(elixir: Answers, text: str, reason: str) -> None:
    assert elixir.match[text] is not None
    with pytest.raises(VersionError, match=reason):
        Requirement.parse(text)


@pytest.mark.parametrize(
    ("requirement", "version", "expected"),
    [
        ("== 1.0.0 or == 2.0.0 and == 3.0.0", "1.0.0", True),  # a or (b and c), not (a or b) and c
        ("== 3.0.0 and == 2.0.0 or == 1.0.0", "1.0.0", True),  # (a and b) or c, not a and (b or c)
        ("== 9.0.0 and == 1.0.0 or == 1.0.0 and == 9.0.0", "1.0.0", False),
    ],
)
def test_and_binds_tighter_than_or_in_elixir_too(
    elixir: Answers, requirement: str, version: str, expected: bool
) -> None:
    answer = elixir.match[requirement]
    assert answer is not None
    assert answer[version] == (expected, expected)
    assert Requirement.parse(requirement).matches(version) is expected
