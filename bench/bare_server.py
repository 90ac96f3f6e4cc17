"""The speed floor: a bare MCP SDK server with one echo tool, served over stdio.

`python bench/bare_server.py` — what any MCPServer costs before it does any work. The latency and cold-start
benchmarks compare hex-mcp against it in the same run.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

mcp = MCPServer("bare-echo", log_level="WARNING")


@mcp.tool(annotations=ToolAnnotations(read_only_hint=True), structured_output=False)
async def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


if __name__ == "__main__":
    mcp.run()
