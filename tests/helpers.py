"""Small helpers shared by the protocol tests: the text of a result, o200k token counts, the source line."""

from __future__ import annotations

import functools
import warnings
from typing import Any

from mcp.types import CallToolResult


def text_of(result: CallToolResult) -> str:
    block = result.content[0]
    assert block.type == "text"
    return block.text


@functools.cache
def _o200k() -> Any:
    # bpe-openai loads its tables through a deprecated importlib API; filterwarnings=error would fail the import.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import bpe_openai

        return bpe_openai.get_encoding("o200k_base")


def tokens(text: str) -> int:
    """o200k tokens, the unit of every budget."""
    return len(_o200k().encode(text))


def split_source(text: str) -> tuple[str, str]:
    """(answer without its last line, the `source: ...` line), whose age varies from run to run."""
    head, _, last = text.rpartition("\n")
    assert last.startswith("source: "), last
    return head, last


# A raw JSON-RPC `initialize`, for tests that speak HTTP to the MCP endpoint without a client library.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
MCP_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
