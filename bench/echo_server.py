"""The speed floor over HTTP: a bare MCP SDK server with one echo tool, on Streamable HTTP.

`python -m bench.echo_server --port 8123` — what any `MCPServer` costs on this transport before it does any
work. `bench/load.py` measures hex-mcp against it in the same run. Like hex-mcp it binds 127.0.0.1 (Host and
Origin checks on), logs at WARNING and answers `GET /healthz`.
"""

from __future__ import annotations

import argparse

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from starlette.requests import Request
from starlette.responses import JSONResponse

mcp = MCPServer("bare-echo", log_level="WARNING")


@mcp.tool(annotations=ToolAnnotations(read_only_hint=True), structured_output=False)
async def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@mcp.custom_route("/healthz", methods=["GET"])  # type: ignore[untyped-decorator]  # the SDK leaves it untyped
async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.echo_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8123)
    args = parser.parse_args()
    mcp.run("streamable-http", host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
