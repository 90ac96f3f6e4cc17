"""The eval suite itself: the cases file, grading, an in-process replay of every case, and the model loop."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client

from evals.model_loop import (
    LAST_TURN_NOTE,
    AnthropicModel,
    AssistantTurn,
    Message,
    ModelConfigError,
    ModelError,
    OpenAIModel,
    ToolReplies,
    ToolReply,
    ToolRequest,
    ToolSpec,
    UserText,
    make_model,
    model_case_runner,
    post_json,
    run_agent,
)
from evals.runner import (
    BACKENDS,
    CASES_FILE,
    CallOutcome,
    CaseError,
    CaseResult,
    Expectation,
    Table,
    api_calls,
    grade,
    load_cases,
    main,
    parse_case,
    run_case,
    select_cases,
    summary_line,
)
from fakehex.upstream import FakeUpstream
from hex_mcp.config import Secret, Settings, TTLs
from hex_mcp.server import create_server
from tests.conftest import OANOR_KEY

pytestmark = pytest.mark.anyio

CASES = load_cases()


def settings_for(backend: str, fake: FakeUpstream, cache_dir: Path, registry: str | None = None) -> Settings:
    base = Settings(
        cache_dir=cache_dir,
        retries=0,
        timeout=5.0,
        ttls=TTLs.uniform(86_400),
        max_rps=0.0,
        repo_url=fake.repo_url,  # the fake's signed registry and tarballs, as `python -m evals` uses
        repo_public_key=fake.repo_public_key_pem,
        **({} if registry is None else {"registry": registry}),
    )
    if backend == "oanor":
        return Settings(
            **{**base.with_backend("oanor", fake.oanor_url).__dict__, "oanor_api_key": Secret(OANOR_KEY)}
        )
    return base.with_backend("hexpm", fake.hexpm_url)


def minimal_case(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": "x",
        "question": "q?",
        "backend": "hexpm",
        "calls": [{"tool": "hex_package", "arguments": {"name": "jason"}}],
        "expect": ["jason"],
        "max_tokens": 100,
    }
    raw.update(overrides)
    return raw


# -- the cases file ------------------------------------------------------------------------------------------


async def test_cases_cover_every_tool_backend_and_error(settings: Settings) -> None:
    async with Client(create_server(settings)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert len(CASES) >= 40
    used = {call.tool for case in CASES for call in case.calls}
    assert used == set(tools), (
        f"tools without a case: {set(tools) - used}; unknown tools: {used - set(tools)}"
    )
    assert {c.backend for c in CASES} == set(BACKENDS)
    for case in CASES:
        assert case.calls and case.expect and case.max_tokens > 0
        for call in case.calls:
            allowed = set(tools[call.tool].input_schema.get("properties", {}))
            assert set(call.arguments) <= allowed, (
                f"{case.id}: {call.tool} takes no {set(call.arguments) - allowed}"
            )
    args = [(call.tool, call.arguments) for case in CASES for call in case.calls]
    assert any(t == "hex_releases" and "requirement" in a for t, a in args)
    assert any(t == "hex_release" and a.get("version") in (None, "latest") for t, a in args)
    assert any(t == "hex_release" and str(a.get("version", "")).startswith("~>") for t, a in args)
    assert any(t == "hex_search" and str(a["q"]).startswith("depends:") for t, a in args)
    assert any(t == "hex_search" and str(a["q"]).startswith("name:") for t, a in args)
    assert any(t == "hex_search" and a.get("sort") for t, a in args)
    for backend in BACKENDS:
        mine = [c for c in CASES if c.backend == backend]
        assert any(c.expect_error for c in mine), f"{backend}: no error case"
        assert any(len(c.calls) >= 3 for c in mine), f"{backend}: no multi-step case"
    assert any(not c.live_skip for c in CASES), "nothing would run in --live mode"


def test_cases_file_is_one_object_per_line() -> None:
    lines = [line for line in CASES_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(lines) == len(CASES)
    assert all(isinstance(json.loads(line), dict) for line in lines)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"backend": "npm"}, "backend must be one of"),
        ({"calls": []}, "calls must be a non-empty list"),
        ({"calls": [{"tool": "hex_package"}]}, "each call is"),
        ({"expect": []}, "non-empty list"),
        ({"expect": [{"regex": "("}]}, "bad regex"),
        ({"max_tokens": 0}, "max_tokens must be a positive integer"),
        ({"id": "Bad Id"}, "must be lower-case"),
        ({"surprise": 1}, "unknown ['surprise']"),
        ({"live_skip": "yes"}, "live_skip must be true or false"),
    ],
)
def test_parse_case_names_the_problem(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(CaseError, match=None) as info:
        parse_case(minimal_case(**overrides), "cases.jsonl:7")
    assert message in str(info.value) and "cases.jsonl:7" in str(info.value)


def test_load_cases_rejects_duplicate_ids(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps(minimal_case()) + "\n\n" + json.dumps(minimal_case()) + "\n", encoding="utf-8")
    with pytest.raises(CaseError, match=r"cases.jsonl:3: duplicate id 'x'"):
        load_cases(path)


def test_select_cases_by_id_and_keyword() -> None:
    assert [c.id for c in select_cases(CASES, ["tiny-slug-safe"])] == ["tiny-slug-safe"]
    hits = select_cases(CASES, (), "JSON")
    assert hits and all("json" in (c.id + c.question).lower() for c in hits)


# -- grading -------------------------------------------------------------------------------------------------


def outcome(text: str, *, is_error: bool = False) -> CallOutcome:
    return CallOutcome("hex_package", {"name": "jason"}, text, is_error, 1.0)


def test_grade_checks_facts_errors_and_budget() -> None:
    case = parse_case(minimal_case(expect=["1.4.4", {"regex": r"latest stable: \d"}]), "t")
    assert grade(case, [outcome("latest stable: 1.4.4")], 10) == []
    assert grade(case, [outcome("latest stable: none")], 10) == [
        "missing '1.4.4'",
        r"missing /latest stable: \d/",
    ]
    assert grade(case, [outcome("1.4.4 latest stable: 1")], 101) == ["101 tokens > budget 100"]
    failures = grade(case, [outcome("1.4.4 latest stable: 1\nmore", is_error=True)], 10)
    assert failures == ["hex_package returned isError: 1.4.4 latest stable: 1"]
    wants_error = parse_case(minimal_case(expect=["No package"], expect_error=True), "t")
    assert grade(wants_error, [outcome("No package 'x'", is_error=True)], 10) == []
    assert grade(wants_error, [outcome("No package 'x'")], 10) == ["expected an isError answer, got none"]


def test_answer_facts_default_to_plain_substrings() -> None:
    case = parse_case(minimal_case(expect=["1.4.4", {"regex": "x+"}]), "t")
    assert case.answer_facts == (Expectation("1.4.4"),)
    explicit = parse_case(minimal_case(answer_expect=["Apache-2.0"]), "t")
    assert explicit.answer_facts == (Expectation("Apache-2.0"),)
    assert Expectation("apache", regex=False).found_in("APACHE-2.0", ignore_case=True)


def test_table_and_summary_line() -> None:
    results = [
        CaseResult("a", "hexpm", "pass", tokens=5, max_tokens=9, upstream_calls=1, latency_ms=2.0),
        CaseResult("bb", "oanor", "fail", tokens=7, max_tokens=9, failures=["missing 'x'"]),
        CaseResult("c", "oanor", "skip", skip_reason="live_skip"),
    ]
    table = Table([r.id for r in results])
    rows = [table.row(r) for r in results]
    assert "PASS" in rows[0] and "5/9" in rows[0]
    assert rows[1].endswith("\n    - missing 'x'")
    assert "(live_skip)" in rows[2]
    assert summary_line(results) == "1 passed, 1 failed"


def test_a_case_may_name_the_registry_mode() -> None:
    assert parse_case(minimal_case(registry="auto"), "line 1").registry == "auto"
    assert parse_case(minimal_case(), "line 1").registry is None
    with pytest.raises(CaseError, match=r"line 1 \(x\): registry must be one of off, auto, only"):
        parse_case(minimal_case(registry="sometimes"), "line 1")


def test_main_rejects_unknown_case_ids(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--case", "no-such-case"]) == 2
    assert "no case matches" in capsys.readouterr().err


# -- the replay, in process ----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
async def test_every_case_passes_in_process(fake: FakeUpstream, tmp_path: Path, backend: str) -> None:
    """The cases `python -m evals` runs over stdio, here via `create_server`: pytest catches regressions."""
    results = []
    for registry in dict.fromkeys(c.registry for c in CASES if c.backend == backend):
        mine = [c for c in CASES if (c.backend, c.registry) == (backend, registry)]
        settings = settings_for(backend, fake, tmp_path / f"{backend}-{registry}", registry)
        async with Client(create_server(settings), mode="legacy") as client:
            results += [await run_case(case, client.call_tool, fake.count) for case in mine]
    failed = {r.id: r.failures for r in results if r.status != "pass"}
    assert not failed
    assert all(r.upstream_calls is not None for r in results)


# -- the model loop ------------------------------------------------------------------------------------------


class ScriptedModel:
    """Plays back assistant turns and records what it was shown."""

    name = "scripted"

    def __init__(self, turns: Sequence[AssistantTurn]) -> None:
        self.turns = list(turns)
        self.seen: list[list[Message]] = []
        self.tools: list[str] = []

    async def respond(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> AssistantTurn:
        assert system
        self.seen.append(list(messages))
        self.tools = [t.name for t in tools]
        return self.turns.pop(0)


def ask(tool: str, arguments: dict[str, Any], call_id: str = "c1") -> AssistantTurn:
    return AssistantTurn("", (ToolRequest(call_id, tool, arguments),))


async def test_model_loop_runs_tools_and_grades_the_answer(fake: FakeUpstream, tmp_path: Path) -> None:
    case = next(c for c in CASES if c.id == "phoenix-elixir-requirement")
    model = ScriptedModel(
        [
            ask("hex_search", {"q": "name:phoenix"}),
            ask("hex_release", {"name": "phoenix", "version": "1.7.14"}, "c2"),
            AssistantTurn("phoenix 1.7.14 requires Elixir ~> 1.11."),
        ]
    )
    run = model_case_runner(model, max_turns=6)
    async with Client(create_server(settings_for("hexpm", fake, tmp_path)), mode="legacy") as client:
        result = await run(case, client, functools.partial(api_calls, fake))
    assert result.status == "pass", result.failures
    assert [c.tool for c in result.calls] == ["hex_search", "hex_release"]
    # The search, then phoenix's release document (its registry file is not an API call)
    assert result.turns == 3 and result.upstream_calls == 2 and result.tokens > 0
    assert "hex_package" in model.tools and "hex_outdated" in model.tools
    last = model.seen[-1][-1]
    assert isinstance(last, ToolReplies) and last.replies[0].request.id == "c2"
    assert "elixir: ~> 1.11" in last.replies[0].text and not last.replies[0].is_error


async def test_model_loop_fails_a_wrong_answer_and_passes_errors_back(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    case = next(c for c in CASES if c.id == "unknown-version")
    model = ScriptedModel(
        [ask("hex_release", {"name": "jason", "version": "9.9.9"}), AssistantTurn("No idea.")]
    )
    run = model_case_runner(model, max_turns=6)
    async with Client(create_server(settings_for("hexpm", fake, tmp_path)), mode="legacy") as client:
        result = await run(case, client, fake.count)
    assert result.status == "fail" and result.failures == ["missing '1.4.4'"]
    reply = model.seen[-1][-1]
    assert isinstance(reply, ToolReplies) and reply.replies[0].is_error
    assert "Nearest existing versions" in reply.replies[0].text


async def test_model_loop_stops_at_the_turn_limit() -> None:
    calls: list[str] = []

    async def run_tool(name: str, arguments: dict[str, Any]) -> CallOutcome:
        calls.append(name)
        return CallOutcome(name, arguments, "text", False, 0.0)

    model = ScriptedModel([ask("hex_meta", {}, f"c{i}") for i in range(3)])
    transcript = await run_agent(model, "q", [], run_tool, max_turns=3)
    assert transcript.stopped == "turn_limit" and transcript.turns == 3 and calls == ["hex_meta", "hex_meta"]
    nudged = model.seen[-1][-1]
    assert isinstance(nudged, ToolReplies) and nudged.note == LAST_TURN_NOTE


# -- providers (wire format, no network) ---------------------------------------------------------------------

HISTORY: list[Message] = [
    UserText("Which Elixir does phoenix 1.7.14 need?"),
    AssistantTurn(
        "Let me check.", (ToolRequest("t1", "hex_release", {"name": "phoenix", "version": "1.7.14"}),)
    ),
    ToolReplies(
        (ToolReply(ToolRequest("t1", "hex_release", {}), "elixir: ~> 1.11", False),), note="answer now"
    ),
]
SPECS = [
    ToolSpec("hex_release", "One release.", {"type": "object", "properties": {"name": {"type": "string"}}})
]


def recording_transport(responses: list[httpx2.Response], seen: list[httpx2.Request]) -> httpx2.MockTransport:
    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return responses.pop(0)

    return httpx2.MockTransport(handler)


async def test_anthropic_wire_format() -> None:
    seen: list[httpx2.Request] = []
    body = {
        "content": [
            {"type": "text", "text": "It needs"},
            {"type": "tool_use", "id": "t2", "name": "hex_package", "input": {"name": "phoenix"}},
        ]
    }
    transport = recording_transport([httpx2.Response(200, json=body)], seen)
    model = make_model("anthropic:claude-test", {"ANTHROPIC_API_KEY": "k-123"}, transport=transport)
    assert isinstance(model, AnthropicModel)
    turn = await model.respond("sys", HISTORY, SPECS)
    assert turn == AssistantTurn("It needs", (ToolRequest("t2", "hex_package", {"name": "phoenix"}),))
    request = seen[0]
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "k-123" and request.headers["anthropic-version"] == "2023-06-01"
    sent = json.loads(request.content)
    assert sent["model"] == "claude-test" and sent["system"] == "sys"
    assert sent["tools"] == [
        {"name": "hex_release", "description": "One release.", "input_schema": SPECS[0].input_schema}
    ]
    assert sent["messages"][1]["content"][1] == {
        "type": "tool_use",
        "id": "t1",
        "name": "hex_release",
        "input": {"name": "phoenix", "version": "1.7.14"},
    }
    assert sent["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "elixir: ~> 1.11", "is_error": False},
            {"type": "text", "text": "answer now"},
        ],
    }


async def test_openai_wire_format() -> None:
    seen: list[httpx2.Request] = []
    body = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c9",
                            "type": "function",
                            "function": {"name": "hex_search", "arguments": '{"q": "json"}'},
                        },
                        {
                            "id": "c10",
                            "type": "function",
                            "function": {"name": "hex_meta", "arguments": "not json"},
                        },
                    ],
                }
            }
        ]
    }
    transport = recording_transport([httpx2.Response(200, json=body)], seen)
    env = {"OPENAI_API_KEY": "sk-1", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1/"}
    model = make_model("openai:gpt-test", env, transport=transport)
    assert isinstance(model, OpenAIModel)
    turn = await model.respond("sys", HISTORY, SPECS)
    assert turn.text == "" and turn.tool_requests == (
        ToolRequest("c9", "hex_search", {"q": "json"}),
        ToolRequest("c10", "hex_meta", {}),
    )
    request = seen[0]
    assert str(request.url) == "http://127.0.0.1:9/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-1"
    sent = json.loads(request.content)
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "tool", "user"]
    assert sent["messages"][2]["tool_calls"][0]["function"] == {
        "name": "hex_release",
        "arguments": json.dumps({"name": "phoenix", "version": "1.7.14"}),
    }
    assert sent["messages"][3] == {"role": "tool", "tool_call_id": "t1", "content": "elixir: ~> 1.11"}
    assert sent["tools"][0]["function"]["parameters"] == SPECS[0].input_schema


async def test_post_json_retries_rate_limits_and_hides_the_key() -> None:
    seen: list[httpx2.Request] = []
    responses = [httpx2.Response(429, headers={"retry-after": "0"}), httpx2.Response(200, json={"ok": 1})]
    data = await post_json(
        "http://model.invalid/x",
        {"x-api-key": "secret-key"},
        {},
        transport=recording_transport(responses, seen),
    )
    assert data == {"ok": 1} and len(seen) == 2
    failing = recording_transport([httpx2.Response(401, json={"error": "bad key"})], [])
    with pytest.raises(ModelError, match="HTTP 401") as info:
        await post_json("http://model.invalid/x", {"x-api-key": "secret-key"}, {}, transport=failing)
    assert "secret-key" not in str(info.value)


@pytest.mark.parametrize(
    ("spec", "env", "message"),
    [
        ("anthropic:claude-x", {}, "needs ANTHROPIC_API_KEY"),
        ("openai:gpt-x", {"OPENAI_API_KEY": " "}, "needs OPENAI_API_KEY"),
        ("gemini:x", {}, "use anthropic:MODEL"),
        ("anthropic", {"ANTHROPIC_API_KEY": "k"}, "use anthropic:MODEL"),
    ],
)
def test_make_model_explains_missing_configuration(spec: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(ModelConfigError, match=message):
        make_model(spec, env)


def test_main_without_a_key_is_a_clear_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert main(["--model", "anthropic:claude-x", "--case", "tiny-slug-safe"]) == 2
    assert "needs ANTHROPIC_API_KEY in the environment" in capsys.readouterr().err
