"""The eval runner: load `cases.jsonl`, launch the installed `hex-mcp` over stdio, run and grade every case.

A case is a question, the tool calls an efficient agent makes to answer it, the facts the tool outputs must
contain, and an o200k token budget for those outputs. Grading is deliberately mechanical (substrings and
regexes over the concatenated text, `isError` as expected, tokens within budget) so a failure names exactly
which fact went missing.

Modes:
- replay (default): the fake upstream (`fakehex`) serves both API shapes from
  `fakehex/fixtures`, on loopback, so a run is deterministic and offline. Upstream calls per case come from the
  fake's hit counter.
- `--live`: real hex.pm (and the gateway when OANOR_API_KEY is set); cases marked `live_skip` are skipped
  because their facts change over time. Upstream calls come from the server's own monthly call counter.
- `--model PROVIDER:MODEL`: an LLM chooses the calls (see `evals.model_loop`) and its final answer is graded.

One server process per backend, each with a fresh cache directory, runs the cases in file order, so later
cases may be answered from the cache that earlier ones filled, as in a real agent session.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult

if TYPE_CHECKING:
    from evals.model_loop import ChatModel
    from fakehex.upstream import FakeUpstream

EVALS_DIR = Path(__file__).resolve().parent
REPO_ROOT = EVALS_DIR.parent
CASES_FILE = EVALS_DIR / "cases.jsonl"
BACKENDS: tuple[str, ...] = ("hexpm", "oanor")
TEST_OANOR_KEY = "test-oanor-key"
# Long enough that nothing expires within a run, or between the cold and the warm run of bench.upstream_calls.
REPLAY_TTL_SECONDS = 7 * 86_400
# The product's per-answer token budgets (o200k), which the case budgets are built from.
TOOL_BUDGETS: dict[str, int] = {
    "hex_package": 300,
    "hex_releases": 600,
    "hex_release": 350,
    "hex_search": 700,
    "hex_meta": 250,
    "hex_diff": 350 + 1_200,  # the metadata diff, plus the changelog part's own budget (max_tokens' default)
    "hex_outdated": 900,
    "hex_plan": 900,
}

ToolCaller = Callable[[str, dict[str, Any]], Awaitable[CallToolResult]]
CallCounter = Callable[[], int | None]
Status = Literal["pass", "fail", "skip"]


# -- cases ---------------------------------------------------------------------------------------------------


class CaseError(ValueError):
    """`cases.jsonl` holds something the runner cannot use; the message names the line."""


@dataclass(frozen=True)
class Expectation:
    """One fact: a substring, or a regex when `regex` is set."""

    pattern: str
    regex: bool = False

    def found_in(self, text: str, *, ignore_case: bool = False) -> bool:
        if self.regex:
            return re.search(self.pattern, text, re.IGNORECASE if ignore_case else 0) is not None
        return self.pattern.lower() in text.lower() if ignore_case else self.pattern in text

    def __str__(self) -> str:
        return f"/{self.pattern}/" if self.regex else repr(self.pattern)


@dataclass(frozen=True)
class ToolCall:
    tool: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Case:
    id: str
    question: str
    backend: str
    calls: tuple[ToolCall, ...]
    expect: tuple[Expectation, ...]
    max_tokens: int
    live_skip: bool = False
    expect_error: bool = False
    # Facts a model's final answer must state; defaults to the plain substrings of `expect`.
    answer_expect: tuple[Expectation, ...] | None = None
    # HEX_MCP_REGISTRY for the server answering this case; None: the server's default.
    registry: str | None = None

    @property
    def answer_facts(self) -> tuple[Expectation, ...]:
        if self.answer_expect is not None:
            return self.answer_expect
        return tuple(e for e in self.expect if not e.regex)


_REQUIRED = ("id", "question", "backend", "calls", "expect", "max_tokens")
_OPTIONAL = ("live_skip", "expect_error", "answer_expect", "registry")
REGISTRY_MODES = ("off", "auto", "only")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def _expectations(raw: Any, where: str) -> tuple[Expectation, ...]:
    if not isinstance(raw, list) or not raw:
        raise CaseError(f'{where}: must be a non-empty list of strings or {{"regex": ...}} objects')
    found: list[Expectation] = []
    for item in raw:
        if isinstance(item, str) and item:
            found.append(Expectation(item))
        elif isinstance(item, dict) and set(item) == {"regex"} and isinstance(item["regex"], str):
            try:
                re.compile(item["regex"])
            except re.error as exc:
                raise CaseError(f"{where}: bad regex {item['regex']!r}: {exc}") from None
            found.append(Expectation(item["regex"], regex=True))
        else:
            raise CaseError(f'{where}: {item!r} is neither a non-empty string nor {{"regex": "..."}}')
    return tuple(found)


def parse_case(raw: Any, where: str) -> Case:
    """Validate one decoded JSON line; every problem names the line and the field."""
    if not isinstance(raw, dict):
        raise CaseError(f"{where}: a case must be a JSON object")
    missing = [k for k in _REQUIRED if k not in raw]
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_OPTIONAL))
    if missing or unknown:
        raise CaseError(f"{where}: missing {missing or 'nothing'}, unknown {unknown or 'nothing'}")
    case_id = raw["id"]
    if not isinstance(case_id, str) or not _ID_RE.match(case_id):
        raise CaseError(f"{where}: id {case_id!r} must be lower-case letters, digits, '-', '_' or '.'")
    where = f"{where} ({case_id})"
    if not isinstance(raw["question"], str) or not raw["question"].strip():
        raise CaseError(f"{where}: question must be a non-empty string")
    if raw["backend"] not in BACKENDS:
        raise CaseError(f"{where}: backend must be one of {', '.join(BACKENDS)}")
    calls = raw["calls"]
    if not isinstance(calls, list) or not calls:
        raise CaseError(f"{where}: calls must be a non-empty list")
    parsed_calls = []
    for call in calls:
        if (
            not isinstance(call, dict)
            or set(call) != {"tool", "arguments"}
            or not isinstance(call["tool"], str)
            or not isinstance(call["arguments"], dict)
        ):
            raise CaseError(f'{where}: each call is {{"tool": str, "arguments": {{...}}}}, got {call!r}')
        parsed_calls.append(ToolCall(call["tool"], call["arguments"]))
    budget = raw["max_tokens"]
    if not isinstance(budget, int) or isinstance(budget, bool) or budget <= 0:
        raise CaseError(f"{where}: max_tokens must be a positive integer")
    for flag in ("live_skip", "expect_error"):
        if not isinstance(raw.get(flag, False), bool):
            raise CaseError(f"{where}: {flag} must be true or false")
    registry = raw.get("registry")
    if registry is not None and registry not in REGISTRY_MODES:
        raise CaseError(f"{where}: registry must be one of {', '.join(REGISTRY_MODES)}")
    answer = raw.get("answer_expect")
    return Case(
        id=case_id,
        question=raw["question"].strip(),
        backend=raw["backend"],
        calls=tuple(parsed_calls),
        expect=_expectations(raw["expect"], f"{where} expect"),
        max_tokens=budget,
        live_skip=raw.get("live_skip", False),
        expect_error=raw.get("expect_error", False),
        answer_expect=None if answer is None else _expectations(answer, f"{where} answer_expect"),
        registry=registry,
    )


def load_cases(path: Path = CASES_FILE) -> list[Case]:
    """All cases of a JSONL file, in file order; ids must be unique."""
    cases: list[Case] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CaseError(f"{where}: not JSON: {exc}") from None
        case = parse_case(raw, where)
        if case.id in seen:
            raise CaseError(f"{where}: duplicate id {case.id!r}")
        seen.add(case.id)
        cases.append(case)
    return cases


def select_cases(cases: Sequence[Case], ids: Sequence[str] = (), keyword: str | None = None) -> list[Case]:
    """`--case ID` (exact, repeatable) and `-k TEXT` (case-insensitive substring of id or question)."""
    chosen = [c for c in cases if not ids or c.id in ids]
    if keyword:
        needle = keyword.lower()
        chosen = [c for c in chosen if needle in c.id.lower() or needle in c.question.lower()]
    return chosen


# -- grading -------------------------------------------------------------------------------------------------


@functools.cache
def _encoder() -> Any:
    try:
        import bpe_openai  # type: ignore[import-untyped]  # noqa: PLC0415 - dev dependency, for token counts only
    except ImportError:  # pragma: no cover - depends on the environment
        raise RuntimeError("token counting needs bpe-openai: pip install -e '.[dev]'") from None
    return bpe_openai.get_encoding("o200k_base")


def count_tokens(text: str) -> int:
    """o200k tokens, the tokenizer of current OpenAI models and a fair proxy for the others."""
    return len(_encoder().encode(text))


@dataclass
class CallOutcome:
    tool: str
    arguments: dict[str, Any]
    text: str
    is_error: bool
    latency_ms: float


@dataclass
class CaseResult:
    id: str
    backend: str
    status: Status
    tokens: int = 0
    max_tokens: int = 0
    upstream_calls: int | None = None
    latency_ms: float = 0.0
    failures: list[str] = field(default_factory=list)
    calls: list[CallOutcome] = field(default_factory=list)
    skip_reason: str | None = None
    answer: str | None = None  # model mode: the final answer that was graded
    turns: int | None = None  # model mode: model responses used


def text_of(result: CallToolResult) -> str:
    """The text blocks of a tool result, joined: what a model reads (structured content is for programs)."""
    return "\n".join(block.text for block in result.content if block.type == "text")


def missing_facts(expect: Sequence[Expectation], text: str, *, ignore_case: bool = False) -> list[str]:
    return [f"missing {e}" for e in expect if not e.found_in(text, ignore_case=ignore_case)]


def grade(case: Case, outcomes: Sequence[CallOutcome], tokens: int) -> list[str]:
    """Why the case fails (empty when it passes): missing facts, unexpected or missing isError, budget."""
    failures = missing_facts(case.expect, "\n".join(o.text for o in outcomes))
    errors = [o for o in outcomes if o.is_error]
    if case.expect_error and not errors:
        failures.append("expected an isError answer, got none")
    if not case.expect_error:
        failures.extend(
            f"{o.tool} returned isError: {o.text.splitlines()[0] if o.text else ''}" for o in errors
        )
    if tokens > case.max_tokens:
        failures.append(f"{tokens} tokens > budget {case.max_tokens}")
    return failures


async def call_tool(caller: ToolCaller, tool: str, arguments: dict[str, Any]) -> CallOutcome:
    started = time.perf_counter()
    result = await caller(tool, arguments)
    elapsed = (time.perf_counter() - started) * 1000
    return CallOutcome(tool, arguments, text_of(result), bool(result.is_error), elapsed)


def _delta(before: int | None, after: int | None) -> int | None:
    return None if before is None or after is None else after - before


async def run_case(case: Case, caller: ToolCaller, counter: CallCounter = lambda: None) -> CaseResult:
    """Make the case's calls in order and grade the concatenated outputs."""
    before = counter()
    outcomes = [await call_tool(caller, call.tool, call.arguments) for call in case.calls]
    tokens = count_tokens("\n".join(o.text for o in outcomes))
    failures = grade(case, outcomes, tokens)
    return CaseResult(
        id=case.id,
        backend=case.backend,
        status="fail" if failures else "pass",
        tokens=tokens,
        max_tokens=case.max_tokens,
        upstream_calls=_delta(before, counter()),
        latency_ms=sum(o.latency_ms for o in outcomes),
        failures=failures,
        calls=outcomes,
    )


# -- servers -------------------------------------------------------------------------------------------------


def hex_mcp_command() -> str:
    """The `hex-mcp` console script next to this interpreter (what a host launches), else the one on PATH."""
    candidate = Path(sys.executable).with_name("hex-mcp")
    found = str(candidate) if candidate.exists() else shutil.which("hex-mcp")
    if not found:
        raise RuntimeError("hex-mcp is not installed: pip install -e '.[dev]'")
    return found


def server_env(
    backend: str, cache_dir: Path, *, base_url: str | None, ttl: int | None, replay: bool
) -> dict[str, str]:
    """Environment for one server process; layered by the SDK over HOME/PATH/SHELL/TERM only."""
    env = {"HEX_MCP_BACKEND": backend, "HEX_MCP_CACHE_DIR": str(cache_dir)}
    if base_url is not None:
        env["HEX_MCP_BASE_URL"] = base_url
    if ttl is not None:
        env["HEX_MCP_CACHE_TTL"] = str(ttl)
    if replay:
        # The fake upstream needs no pacing; the gateway's default 2 requests/second would only slow the run.
        env["HEX_MCP_MAX_RPS"] = "0"
        if backend == "oanor":
            env["OANOR_API_KEY"] = TEST_OANOR_KEY
    else:
        for key in ("HEX_API_KEY", "OANOR_API_KEY"):
            if os.environ.get(key):
                env[key] = os.environ[key]
    return env


def api_calls(fake: FakeUpstream) -> int:
    """Requests the fake's two APIs received; registry files (`/repo`) are not API calls."""
    return fake.count("/api/") + fake.count("/hex-api/")


def repo_env(fake: FakeUpstream, directory: Path) -> dict[str, str]:
    """Point a launched server at the fake's signed registry: its URL and its test key's PEM."""
    directory.mkdir(parents=True, exist_ok=True)
    key = fake.write_repo_public_key(directory / "repo-test-key.pem")
    return {"HEX_MCP_REPO_URL": fake.repo_url, "HEX_MCP_REPO_PUBLIC_KEY": str(key)}


@asynccontextmanager
async def stdio_client(env: dict[str, str], *, command: str | None = None) -> AsyncIterator[Client]:
    """A `legacy` (initialize handshake) MCP client session with a freshly spawned `hex-mcp`."""
    params = StdioServerParameters(command=command or hex_mcp_command(), args=[], env=env)
    async with Client(params, mode="legacy") as client:
        yield client


def _fake_upstream_class() -> type[FakeUpstream]:
    try:
        from fakehex.upstream import FakeUpstream  # noqa: PLC0415 - only replay mode needs the fake
    except ImportError:
        # `python -m evals` from the repo root has it on sys.path already; other working directories do not.
        sys.path.insert(0, str(REPO_ROOT))
        from fakehex.upstream import FakeUpstream  # noqa: PLC0415
    return FakeUpstream


@contextmanager
def replay_upstream() -> Iterator[FakeUpstream]:
    """The fake upstream on a free loopback port, serving `fakehex/fixtures` in both API shapes."""
    with _fake_upstream_class()(oanor_key=TEST_OANOR_KEY) as fake:
        # hex.pm's window (100 a minute) is the rate governor's business and has its own tests; a replay that
        # grows past it should measure answers, not waits.
        fake.ratelimit.update(limit=100_000, remaining=100_000)
        yield fake


def _monthly_counter(cache_dir: Path, backend: str) -> CallCounter:
    """Upstream calls as the server counts them (per attempt, persisted in its cache dir): for live runs."""
    from hex_mcp.cache import ResponseCache  # noqa: PLC0415 - live mode only
    from hex_mcp.config import Settings  # noqa: PLC0415

    cache = ResponseCache(Settings(cache_dir=cache_dir))

    def count() -> int | None:
        return cache.calls_this_month(backend) if cache.enabled else None

    return count


@dataclass
class SuiteOptions:
    live: bool = False
    cache_root: Path | None = None  # None: a fresh temporary directory, removed afterwards
    ttl: int | None = REPLAY_TTL_SECONDS
    on_result: Callable[[CaseResult], None] | None = None
    model: ChatModel | None = None
    max_turns: int = 6
    registry: str | None = None  # HEX_MCP_REGISTRY for the launched servers; None: the product default


def skip_reason(case: Case, options: SuiteOptions) -> str | None:
    if options.live and case.live_skip:
        return "live_skip: the fact changes over time"
    if options.live and case.backend == "oanor" and not os.environ.get("OANOR_API_KEY"):
        return "OANOR_API_KEY is not set"
    return None


CaseRunner = Callable[[Case, Client, CallCounter], Awaitable[CaseResult]]


async def _replay_case(case: Case, client: Client, counter: CallCounter) -> CaseResult:
    return await run_case(case, client.call_tool, counter)


async def run_suite(
    cases: Sequence[Case], options: SuiteOptions, fake: FakeUpstream | None = None
) -> list[CaseResult]:
    """Run `cases` against one launched server per backend; results come back in case order."""
    runner: CaseRunner = _replay_case
    if options.model is not None:
        from evals.model_loop import model_case_runner  # noqa: PLC0415 - the model loop is optional

        runner = model_case_runner(options.model, options.max_turns)
    temp = None if options.cache_root is not None else tempfile.mkdtemp(prefix="hex-mcp-evals-")
    root = options.cache_root or Path(temp or ".")
    results: dict[str, CaseResult] = {}

    def done(result: CaseResult) -> None:
        results[result.id] = result
        if options.on_result is not None:
            options.on_result(result)

    try:
        # One server per backend and registry mode; cases keep their file order within a group.
        groups = list(dict.fromkeys((c.backend, c.registry) for c in cases))
        groups.sort(key=lambda group: BACKENDS.index(group[0]))
        for backend, registry in groups:
            mine = [c for c in cases if (c.backend, c.registry) == (backend, registry)]
            skips = {c.id: reason for c in mine if (reason := skip_reason(c, options))}
            if len(skips) == len(mine):
                for case in mine:
                    done(
                        CaseResult(
                            case.id, backend, "skip", max_tokens=case.max_tokens, skip_reason=skips[case.id]
                        )
                    )
                continue
            cache_dir = root / (backend if registry is None else f"{backend}-registry-{registry}")
            if fake is not None:
                base_url: str | None = fake.oanor_url if backend == "oanor" else fake.hexpm_url
                counter: CallCounter = functools.partial(api_calls, fake)
            else:
                base_url, counter = None, _monthly_counter(cache_dir, backend)
            env = server_env(backend, cache_dir, base_url=base_url, ttl=options.ttl, replay=fake is not None)
            if fake is not None:  # the fake's repository too, with the key it signs with
                env.update(repo_env(fake, root))
            mode = registry if registry is not None else options.registry  # a case's own mode wins
            if mode is not None:
                env["HEX_MCP_REGISTRY"] = mode
            async with stdio_client(env) as client:
                for case in mine:
                    if case.id in skips:
                        done(
                            CaseResult(
                                case.id,
                                backend,
                                "skip",
                                max_tokens=case.max_tokens,
                                skip_reason=skips[case.id],
                            )
                        )
                    else:
                        done(await runner(case, client, counter))
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    return [results[c.id] for c in cases if c.id in results]


# -- reporting -----------------------------------------------------------------------------------------------


class Table:
    """Rows printed as they complete, so a slow case is visible while the run goes on."""

    def __init__(self, ids: Sequence[str], *, model: bool = False) -> None:
        self.width = max([len("case"), *(len(i) for i in ids)])
        self.model = model

    def _line(self, cells: Sequence[str]) -> str:
        case, backend, result, tokens, upstream, ms, turns = cells
        line = f"{case:<{self.width}} {backend:<7} {result:<6} {tokens:>9} {upstream:>8} {ms:>7}"
        return line + (f" {turns:>5}" if self.model else "")

    def header(self) -> str:
        head = self._line(("case", "backend", "result", "tokens", "upstream", "ms", "turns"))
        return head + "\n" + "-" * len(head)

    def row(self, r: CaseResult) -> str:
        ran = r.status != "skip"
        line = self._line(
            (
                r.id,
                r.backend,
                r.status.upper(),
                f"{r.tokens}/{r.max_tokens}" if ran else "-",
                str(r.upstream_calls) if ran and r.upstream_calls is not None else "-",
                f"{r.latency_ms:.0f}" if ran else "-",
                str(r.turns) if r.turns is not None else "-",
            )
        )
        if r.status == "skip":
            line += f"  ({r.skip_reason})"
        for failure in r.failures:
            line += f"\n    - {failure}"
        return line


def summary(results: Sequence[CaseResult]) -> dict[str, Any]:
    ran = [r for r in results if r.status != "skip"]
    upstream = [r.upstream_calls for r in ran if r.upstream_calls is not None]
    return {
        "passed": sum(1 for r in ran if r.status == "pass"),
        "failed": sum(1 for r in ran if r.status == "fail"),
        "skipped": len(results) - len(ran),
        "tokens": sum(r.tokens for r in ran),
        "upstream_calls": sum(upstream) if upstream else None,
        "latency_ms": round(sum(r.latency_ms for r in ran), 1),
    }


def summary_line(results: Sequence[CaseResult]) -> str:
    s = summary(results)
    return f"{s['passed']} passed, {s['failed']} failed"


def write_json(path: Path, results: Sequence[CaseResult], *, mode: str, model: str | None) -> None:
    payload = {
        "mode": mode,
        "model": model,
        "summary": summary(results),
        "cases": [asdict(r) for r in results],
    }
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# -- command line --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evals",
        description="Run hex-mcp's eval cases against the installed hex-mcp over stdio (replay by default).",
        epilog="exit status: 0 all ran cases passed, 1 a case failed, 2 usage or setup error",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="query real hex.pm (and the gateway if "
        "OANOR_API_KEY is set); cases marked live_skip are skipped",
    )
    parser.add_argument(
        "--model",
        metavar="PROVIDER:MODEL",
        help="let a model choose the calls and grade its "
        "answer, e.g. anthropic:claude-sonnet-4-5 or openai:gpt-4.1 (keys: ANTHROPIC_API_KEY, "
        "OPENAI_API_KEY; OPENAI_BASE_URL for OpenAI-compatible servers)",
    )
    parser.add_argument("--max-turns", type=int, default=6, help="model responses per case (default 6)")
    parser.add_argument(
        "--case", action="append", default=[], metavar="ID", help="run only this case (repeatable)"
    )
    parser.add_argument("-k", metavar="TEXT", help="run only cases whose id or question contains TEXT")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    parser.add_argument(
        "--cases", type=Path, default=CASES_FILE, help="cases file (default evals/cases.jsonl)"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="server cache root to use and keep (default: a fresh temporary directory per run)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print every tool output")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cases = select_cases(load_cases(args.cases), args.case, args.k)
    except (CaseError, OSError) as exc:
        sys.stderr.write(f"evals: {exc}\n")
        return 2
    if not cases:
        sys.stderr.write("evals: no case matches the --case/-k filter\n")
        return 2
    unknown = sorted(set(args.case) - {c.id for c in cases})
    if unknown:
        sys.stderr.write(f"evals: unknown case id(s): {', '.join(unknown)}\n")
        return 2
    model = None
    if args.model:
        from evals.model_loop import ModelConfigError, make_model  # noqa: PLC0415

        try:
            model = make_model(args.model)
        except ModelConfigError as exc:
            sys.stderr.write(f"evals: {exc}\n")
            return 2
    table = Table([c.id for c in cases], model=model is not None)

    def show(result: CaseResult) -> None:
        print(table.row(result), flush=True)
        if args.verbose:
            for call in result.calls:
                print(
                    f"    > {call.tool} {json.dumps(call.arguments)}"
                    + (" [isError]" if call.is_error else "")
                )
                print("      " + call.text.replace("\n", "\n      "))
            if result.answer is not None:
                print("    answer: " + result.answer.replace("\n", "\n    "))

    mode = "model" if model else "live" if args.live else "replay"
    options = SuiteOptions(
        live=args.live,
        cache_root=args.cache_dir,
        ttl=None if args.live else REPLAY_TTL_SECONDS,
        on_result=show,
        model=model,
        max_turns=args.max_turns,
    )
    print(f"hex-mcp evals · {mode} · {len(cases)} cases · {hex_mcp_command()}")
    print(table.header(), flush=True)
    started = time.perf_counter()
    if args.live:
        results = anyio.run(run_suite, cases, options)
    else:
        with replay_upstream() as fake:
            results = anyio.run(run_suite, cases, options, fake)
    s = summary(results)
    print()
    upstream = "?" if s["upstream_calls"] is None else s["upstream_calls"]
    print(
        f"tokens {s['tokens']} · upstream calls {upstream} · tool time {s['latency_ms']:.0f} ms · "
        f"wall {time.perf_counter() - started:.1f} s" + (f" · {s['skipped']} skipped" if s["skipped"] else "")
    )
    print(summary_line(results))
    if args.json:
        write_json(args.json, results, mode=mode, model=args.model)
    return 1 if s["failed"] else 0
