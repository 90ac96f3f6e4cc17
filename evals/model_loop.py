"""Model in the loop: an LLM gets a case's question and the server's tool list, chooses calls, and answers.

The loop (`run_agent`) is provider-neutral: a `ChatModel` turns a neutral history (user question, assistant
turns with tool requests, tool replies) into one more assistant turn. Two providers speak their HTTP APIs
through `httpx2` directly, so the evals need no SDK: `AnthropicModel` (Messages API with tools) and
`OpenAIModel` (chat completions with tools; `OPENAI_BASE_URL` points it at any compatible server). Tests drive
the loop with a scripted model instead.

Grading (`grade_answer`): the final answer must state the case's answer facts (case-insensitive); whether the
model called the tools a case lists is reported, not graded, since there is more than one good path.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import httpx2
from mcp import Client

from evals.runner import (
    CallCounter,
    CallOutcome,
    Case,
    CaseResult,
    CaseRunner,
    count_tokens,
    missing_facts,
    text_of,
)

SYSTEM_PROMPT = (
    "You answer questions about packages on Hex (hex.pm), the Elixir/Erlang/Gleam package registry, using "
    "the tools provided. Call the tools you need (several if the question has several steps), then answer in "
    "a few sentences. Quote exact package names, versions, version requirements, dates and advisory ids from "
    "the tool results. If a tool reports an error or says a fact is not available, say so plainly instead of "
    "guessing."
)
LAST_TURN_NOTE = "You have no tool calls left. Answer now from the results you have."
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})
MAX_ATTEMPTS = 4


class ModelConfigError(ValueError):
    """The --model value or its API key is missing or wrong; the message says what to set."""


class ModelError(RuntimeError):
    """The provider answered with an error or a body the loop cannot read."""


# -- the neutral conversation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class ToolRequest:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class UserText:
    text: str


@dataclass(frozen=True)
class AssistantTurn:
    text: str
    tool_requests: tuple[ToolRequest, ...] = ()


@dataclass(frozen=True)
class ToolReply:
    request: ToolRequest
    text: str
    is_error: bool


@dataclass(frozen=True)
class ToolReplies:
    replies: tuple[ToolReply, ...]
    note: str | None = None  # a user-side instruction sent along with the results (the last-turn nudge)


Message = UserText | AssistantTurn | ToolReplies


class ChatModel(Protocol):
    """One more assistant turn for a conversation; implementations keep no state between calls."""

    name: str

    async def respond(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> AssistantTurn: ...


# -- the loop ----------------------------------------------------------------------------------------------


@dataclass
class Transcript:
    answer: str
    calls: list[CallOutcome] = field(default_factory=list)
    turns: int = 0
    stopped: str = "answered"  # "answered" or "turn_limit"


ToolRunner = Callable[[str, dict[str, Any]], Awaitable[CallOutcome]]


async def run_agent(
    model: ChatModel,
    question: str,
    tools: Sequence[ToolSpec],
    run_tool: ToolRunner,
    *,
    max_turns: int = 6,
    system: str = SYSTEM_PROMPT,
) -> Transcript:
    """Ask, run the requested tools, feed the results back; stop at an answer without tool requests.

    The reply to the last allowed turn's tool requests carries a note asking for the answer, so a model that
    keeps exploring still ends with something to grade.
    """
    if max_turns < 1:
        raise ValueError("max_turns must be at least 1")
    messages: list[Message] = [UserText(question)]
    transcript = Transcript(answer="")
    for turn in range(1, max_turns + 1):
        reply = await model.respond(system, messages, tools)
        messages.append(reply)
        transcript.turns = turn
        transcript.answer = reply.text
        if not reply.tool_requests:
            return transcript
        if turn == max_turns:
            break
        results = []
        for request in reply.tool_requests:
            outcome = await run_tool(request.name, request.arguments)
            transcript.calls.append(outcome)
            results.append(ToolReply(request, outcome.text, outcome.is_error))
        note = LAST_TURN_NOTE if turn == max_turns - 1 else None
        messages.append(ToolReplies(tuple(results), note))
    transcript.stopped = "turn_limit"
    return transcript


def grade_answer(case: Case, transcript: Transcript) -> list[str]:
    failures = missing_facts(case.answer_facts, transcript.answer, ignore_case=True)
    if not transcript.answer.strip():
        failures.insert(0, "no final answer")
    if transcript.stopped == "turn_limit":
        failures.append("still calling tools at the turn limit")
    return failures


def tool_specs(listed: Any) -> list[ToolSpec]:
    """`ListToolsResult.tools` as the neutral specs both providers are built from."""
    return [ToolSpec(t.name, t.description or "", dict(t.input_schema)) for t in listed]


def model_case_runner(model: ChatModel, max_turns: int) -> CaseRunner:
    """A `runner.run_suite` case runner that lets `model` answer each case through `client`."""
    specs: list[ToolSpec] | None = None

    async def run(case: Case, client: Client, counter: CallCounter) -> CaseResult:
        nonlocal specs
        if specs is None:
            specs = tool_specs((await client.list_tools()).tools)

        async def run_tool(name: str, arguments: dict[str, Any]) -> CallOutcome:
            started = time.perf_counter()
            result = await client.call_tool(name, arguments)
            elapsed = (time.perf_counter() - started) * 1000
            return CallOutcome(name, arguments, text_of(result), bool(result.is_error), elapsed)

        before = counter()
        try:
            transcript = await run_agent(model, case.question, specs, run_tool, max_turns=max_turns)
        except ModelError as exc:
            transcript, failures = Transcript(answer=""), [f"model error: {exc}"]
        else:
            failures = grade_answer(case, transcript)
        after = counter()
        return CaseResult(
            id=case.id,
            backend=case.backend,
            status="fail" if failures else "pass",
            tokens=count_tokens("\n".join(c.text for c in transcript.calls)),
            max_tokens=case.max_tokens,
            upstream_calls=None if before is None or after is None else after - before,
            latency_ms=sum(c.latency_ms for c in transcript.calls),
            failures=failures,
            calls=transcript.calls,
            answer=transcript.answer,
            turns=transcript.turns,
        )

    return run


# -- providers ---------------------------------------------------------------------------------------------


async def post_json(
    url: str,
    headers: Mapping[str, str],
    body: dict[str, Any],
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    read_seconds: float = 120.0,
) -> dict[str, Any]:
    """POST with retries on overload and rate limits (honouring Retry-After); errors never echo the key."""
    async with httpx2.AsyncClient(transport=transport, timeout=read_seconds) as http:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = await http.post(url, headers=dict(headers), json=body)
            except httpx2.TransportError as exc:
                if attempt == MAX_ATTEMPTS:
                    raise ModelError(f"{url}: {type(exc).__name__}: {exc}") from None
                await anyio.sleep(2 ** (attempt - 1))
                continue
            if response.status_code in RETRY_STATUSES and attempt < MAX_ATTEMPTS:
                await anyio.sleep(_retry_after(response.headers.get("retry-after"), attempt))
                continue
            if response.status_code >= 400:
                raise ModelError(f"{url} answered HTTP {response.status_code}: {response.text[:300]}")
            try:
                data = response.json()
            except ValueError:
                raise ModelError(f"{url} answered a body that is not JSON: {response.text[:200]}") from None
            if not isinstance(data, dict):
                raise ModelError(f"{url} answered {type(data).__name__}, not a JSON object")
            return data
    raise ModelError(
        f"{url}: gave up after {MAX_ATTEMPTS} attempts"
    )  # pragma: no cover - loop always returns


def _object(value: Any) -> dict[str, Any]:
    """Tool arguments must be a JSON object; anything else becomes {} and the server's validation speaks."""
    return value if isinstance(value, dict) else {}


def _retry_after(value: str | None, attempt: int) -> float:
    try:
        return min(max(float(value), 0.0), 60.0) if value is not None else float(2 ** (attempt - 1))
    except ValueError:
        return float(2 ** (attempt - 1))


class AnthropicModel:
    """Anthropic Messages API with tools (`POST /v1/messages`)."""

    def __init__(
        self,
        model: str,
        api_key: str,
        *,
        base_url: str = "https://api.anthropic.com",
        max_tokens: int = 1024,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = f"anthropic:{model}"
        self.model = model
        self._key = api_key
        self.url = base_url.rstrip("/") + "/v1/messages"
        self.max_tokens = max_tokens
        self.transport = transport

    def request_body(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> dict[str, Any]:
        wire: list[dict[str, Any]] = []
        for message in messages:
            if isinstance(message, UserText):
                wire.append({"role": "user", "content": message.text})
            elif isinstance(message, AssistantTurn):
                blocks: list[dict[str, Any]] = (
                    [{"type": "text", "text": message.text}] if message.text else []
                )
                blocks += [
                    {"type": "tool_use", "id": r.id, "name": r.name, "input": r.arguments}
                    for r in message.tool_requests
                ]
                wire.append({"role": "assistant", "content": blocks})
            else:
                results: list[dict[str, Any]] = [
                    {
                        "type": "tool_result",
                        "tool_use_id": r.request.id,
                        "content": r.text,
                        "is_error": r.is_error,
                    }
                    for r in message.replies
                ]
                if message.note:
                    results.append({"type": "text", "text": message.note})
                wire.append({"role": "user", "content": results})
        return {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": system,
            "tools": [
                {"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in tools
            ],
            "messages": wire,
        }

    @staticmethod
    def parse_response(data: dict[str, Any]) -> AssistantTurn:
        content = data.get("content")
        if not isinstance(content, list):
            raise ModelError(f"Anthropic response without content: {json.dumps(data)[:200]}")
        texts = [b["text"] for b in content if isinstance(b, dict) and b.get("type") == "text"]
        requests = tuple(
            ToolRequest(str(b["id"]), str(b["name"]), _object(b.get("input")))
            for b in content
            if isinstance(b, dict) and b.get("type") == "tool_use"
        )
        return AssistantTurn("\n".join(texts).strip(), requests)

    async def respond(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> AssistantTurn:
        headers = {
            "x-api-key": self._key,
            "anthropic-version": "2023-06-01",
            "content-type": "application/json",
        }
        data = await post_json(
            self.url, headers, self.request_body(system, messages, tools), transport=self.transport
        )
        return self.parse_response(data)


class OpenAIModel:
    """OpenAI chat completions with tools (`POST {base}/chat/completions`), or any compatible server."""

    def __init__(
        self,
        model: str,
        api_key: str,
        *,
        base_url: str = "https://api.openai.com/v1",
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = f"openai:{model}"
        self.model = model
        self._key = api_key
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.transport = transport

    def request_body(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> dict[str, Any]:
        wire: list[dict[str, Any]] = [{"role": "system", "content": system}]
        for message in messages:
            if isinstance(message, UserText):
                wire.append({"role": "user", "content": message.text})
            elif isinstance(message, AssistantTurn):
                item: dict[str, Any] = {"role": "assistant", "content": message.text or None}
                if message.tool_requests:
                    item["tool_calls"] = [
                        {
                            "id": r.id,
                            "type": "function",
                            "function": {"name": r.name, "arguments": json.dumps(r.arguments)},
                        }
                        for r in message.tool_requests
                    ]
                wire.append(item)
            else:
                wire.extend(
                    {
                        "role": "tool",
                        "tool_call_id": r.request.id,
                        # Chat completions has no error flag on tool messages; say it in the content.
                        "content": ("ERROR: " if r.is_error else "") + r.text,
                    }
                    for r in message.replies
                )
                if message.note:
                    wire.append({"role": "user", "content": message.note})
        return {
            "model": self.model,
            "messages": wire,
            "tools": [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.input_schema},
                }
                for t in tools
            ],
        }

    @staticmethod
    def parse_response(data: dict[str, Any]) -> AssistantTurn:
        try:
            message = data["choices"][0]["message"]
        except (KeyError, IndexError, TypeError):
            raise ModelError(
                f"chat completion without choices[0].message: {json.dumps(data)[:200]}"
            ) from None
        requests = []
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            try:
                arguments = json.loads(function.get("arguments") or "{}")
            except json.JSONDecodeError:
                arguments = {}  # the server's schema validation then tells the model what was wrong
            requests.append(ToolRequest(str(call.get("id")), str(function.get("name")), _object(arguments)))
        return AssistantTurn((message.get("content") or "").strip(), tuple(requests))

    async def respond(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSpec]
    ) -> AssistantTurn:
        headers = {"authorization": f"Bearer {self._key}", "content-type": "application/json"}
        data = await post_json(
            self.url, headers, self.request_body(system, messages, tools), transport=self.transport
        )
        return self.parse_response(data)


PROVIDER_KEYS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}


def make_model(
    spec: str, env: Mapping[str, str] | None = None, *, transport: httpx2.AsyncBaseTransport | None = None
) -> ChatModel:
    """`anthropic:MODEL` or `openai:MODEL`, with the key (and OpenAI base URL) from the environment."""
    env = os.environ if env is None else env
    provider, _, model = spec.partition(":")
    if provider not in PROVIDER_KEYS or not model:
        raise ModelConfigError(
            f"--model {spec!r}: use anthropic:MODEL (e.g. anthropic:claude-sonnet-4-5) or openai:MODEL "
            "(e.g. openai:gpt-4.1; OPENAI_BASE_URL for an OpenAI-compatible server)"
        )
    key = (env.get(PROVIDER_KEYS[provider]) or "").strip()
    if not key:
        raise ModelConfigError(f"--model {spec} needs {PROVIDER_KEYS[provider]} in the environment")
    if provider == "anthropic":
        base = (env.get("ANTHROPIC_BASE_URL") or "").strip() or "https://api.anthropic.com"
        return AnthropicModel(model, key, base_url=base, transport=transport)
    base = (env.get("OPENAI_BASE_URL") or "").strip() or "https://api.openai.com/v1"
    return OpenAIModel(model, key, base_url=base, transport=transport)
