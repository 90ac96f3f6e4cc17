"""Command line: `hex-mcp` serves MCP (stdio by default); subcommands operate the cache and try tools.

Every flag falls back to an environment variable (named in `--help`), and flags win over the environment.
Logs go to stderr: under stdio, stdout carries the protocol.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio

from hex_mcp import __version__
from hex_mcp.backends import backend_for
from hex_mcp.config import (
    LOG_LEVELS,
    TRANSPORTS,
    ConfigError,
    Secret,
    Settings,
    is_loopback,
    parse_redis_url,
)
from hex_mcp.logs import limit_repeats
from hex_mcp.models import BACKEND_NAMES

EPILOG = """\
commands:
  (none)                 serve MCP (stdio unless --transport says otherwise)
  cache stats|clear      show or empty the disk cache (and the shared Redis store, with --redis-url)
  cache warm NAME...     fetch package, releases and latest stable release of each NAME
  cache export FILE      write the cache to a portable JSON snapshot
  cache import FILE      load a snapshot (for offline, replayable answers: add --offline)
  call TOOL KEY=VALUE... run one tool in-process and print its answer (--json: structured content)
  tools                  list the tools and their parameters
  doctor                 check Python, packages, backend, key, upstream, rate limits and cache

environment: HEX_API_KEY (hex.pm key, optional), OANOR_API_KEY (gateway key; selects the gateway),
  HEX_MCP_CACHE_TTL (seconds, overrides every TTL), HEX_MCP_MAX_RPS, HEX_MCP_MONTHLY_QUOTA,
  HEX_MCP_CACHE_SIZE_MB (default 256), HEX_MCP_TIMEOUT (seconds per call, default 10),
  HEX_MCP_NOT_FOUND_TTL (default 600), HEX_MCP_MAX_LOOKUPS (per hex_outdated call, default 100),
  HEX_MCP_AUTH_TOKEN (bearer token for the HTTP transports); HTTP limits: HEX_MCP_HEADER_TIMEOUT,
  HEX_MCP_MAX_CONNECTIONS, HEX_MCP_MAX_SESSIONS, HEX_MCP_MAX_PENDING_SESSIONS, HEX_MCP_PENDING_SESSION_TTL,
  HEX_MCP_SHUTDOWN_GRACE (see docs/configuration.md); HEX_MCP_REDIS_URL, HEX_MCP_REDIS_PREFIX,
  HEX_MCP_REDIS_PASSWORD (state shared by replicas; see docs/replicas.md).
"""


def _common_options(parser: argparse.ArgumentParser, *, sub: bool = False) -> None:
    """Options every command understands (defaults come from the environment).

    Subcommands repeat them with SUPPRESS defaults, so `hex-mcp --offline cache stats` keeps the flag.
    """
    default = argparse.SUPPRESS if sub else None
    parser.add_argument(
        "--backend",
        default=default,
        choices=BACKEND_NAMES,
        help="upstream: hexpm (hex.pm, no key) or oanor (the Hex API "
        "gateway, needs OANOR_API_KEY) [HEX_MCP_BACKEND; default oanor if OANOR_API_KEY is set, "
        "else hexpm]",
    )
    parser.add_argument(
        "--base-url",
        default=default,
        help="override the selected backend's base URL [HEX_MCP_BASE_URL; defaults: "
        + ", ".join(backend_for(name).default_base_url for name in BACKEND_NAMES)
        + "]",
    )
    parser.add_argument(
        "--cache-dir",
        default=default,
        type=Path,
        help="disk cache directory [HEX_MCP_CACHE_DIR; default: the user cache dir, e.g. ~/.cache/hex-mcp]",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        default=default,
        help="do not read or write the disk cache [HEX_MCP_NO_CACHE=1]",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        default=default,
        help="answer only from the cache, whatever its age [HEX_MCP_OFFLINE=1]",
    )
    parser.add_argument(
        "--redis-url",
        default=default,
        metavar="URL",
        help="share answers, the monthly quota, the rate window and single flight with other replicas "
        "through Redis: redis://HOST:PORT/DB, rediss:// (TLS) or unix:///PATH [HEX_MCP_REDIS_URL; prefix "
        "HEX_MCP_REDIS_PREFIX, default hexmcp:; password in the URL or HEX_MCP_REDIS_PASSWORD]",
    )
    parser.add_argument(
        "--log-level",
        default=default,
        type=str.upper,
        choices=LOG_LEVELS,
        help="stderr log level [HEX_MCP_LOG_LEVEL; default WARNING]",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hex-mcp",
        description="MCP server for the Hex package registry (hex.pm): packages, releases, dependencies, search.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hex-mcp {__version__}")
    _common_options(parser)
    serve = parser.add_argument_group("serving")
    serve.add_argument(
        "--transport", choices=TRANSPORTS, help="MCP transport [HEX_MCP_TRANSPORT; default stdio]"
    )
    serve.add_argument("--host", help="HTTP bind address [HEX_MCP_HOST; default 127.0.0.1]")
    serve.add_argument("--port", type=int, help="HTTP port [HEX_MCP_PORT; default 8000]")
    serve.add_argument(
        "--allowed-host",
        action="append",
        metavar="HOST[:PORT|:*]",
        help="accept this Host header "
        "(and its https/http Origin) on the HTTP transports; repeatable. Use behind a proxy or with "
        "--host 0.0.0.0 [HEX_MCP_ALLOWED_HOSTS, comma-separated]",
    )
    serve.add_argument(
        "--stateless-http",
        action="store_true",
        help="Streamable HTTP without sessions, so that any replica behind a load balancer can answer any "
        "request (no sticky sessions needed; the tools never call back into the client) "
        "[HEX_MCP_STATELESS_HTTP=1]",
    )
    serve.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="allow a non-loopback --host without "
        "HEX_MCP_AUTH_TOKEN (anyone who can reach the port can use the server)",
    )

    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    cache = sub.add_parser("cache", help="operate the disk cache", description="Operate the disk cache.")
    _common_options(cache, sub=True)
    cache_sub = cache.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    for name, text in (
        ("stats", "entries, size and calls this month"),
        ("clear", "remove every cached answer"),
    ):
        _common_options(cache_sub.add_parser(name, help=text, description=text), sub=True)
    warm = cache_sub.add_parser(
        "warm",
        help="prefetch packages",
        description="Fetch package, releases and latest "
        "stable release for each NAME, so later answers (or --offline) need no upstream.",
    )
    warm.add_argument("names", nargs="+", metavar="NAME")
    _common_options(warm, sub=True)
    export = cache_sub.add_parser(
        "export", help="write a snapshot", description="Write the cache to a JSON file."
    )
    export.add_argument("file", type=Path)
    _common_options(export, sub=True)
    imp = cache_sub.add_parser(
        "import", help="load a snapshot", description="Load a snapshot written by export."
    )
    imp.add_argument("file", type=Path)
    _common_options(imp, sub=True)

    call = sub.add_parser(
        "call",
        help="run one tool and print its answer",
        description="Run one tool "
        "in-process, through the same MCP validation and errors a host sees, and print its "
        "text answer. Values follow the tool's parameter types (integers, true/false, "
        "null); KEY=@FILE reads a file's text.",
        epilog="example: hex-mcp call hex_releases name=phoenix requirement='~> 1.7'",
    )
    call.add_argument("tool", nargs="?", metavar="TOOL", help="tool name (see `hex-mcp tools`)")
    call.add_argument("arguments", nargs="*", metavar="KEY=VALUE", help="tool arguments")
    call.add_argument("--json", action="store_true", help="print the structured content as JSON")
    _common_options(call, sub=True)
    tools = sub.add_parser(
        "tools",
        help="list the tools and their parameters",
        description="List each "
        "tool with a one-line description and its parameters (type, required or default, "
        "bounds).",
    )
    tools.add_argument("--json", action="store_true", help="print names, descriptions and schemas as JSON")
    _common_options(tools, sub=True)
    doctor = sub.add_parser(
        "doctor",
        help="diagnose the setup",
        description="Check Python and package "
        "versions, the backend and its key, upstream reachability, latency and rate "
        "limits, the cache and offline mode: one line per check with what to do. Exit "
        "status 1 if any check fails.",
    )
    _common_options(doctor, sub=True)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if args.backend is not None and args.backend != settings.backend:
        settings = settings.with_backend(args.backend)
    overrides: dict[str, object] = {}
    for attr, field in (
        ("base_url", "base_url"),
        ("cache_dir", "cache_dir"),
        ("log_level", "log_level"),
        ("transport", "transport"),
        ("host", "host"),
        ("port", "port"),
    ):
        value = getattr(args, attr, None)
        if value is not None:
            overrides[field] = value.rstrip("/") if attr == "base_url" else value
    if getattr(args, "redis_url", None):
        overrides["redis_url"] = Secret(parse_redis_url("--redis-url", args.redis_url))
    if getattr(args, "no_cache", None):
        overrides["cache_enabled"] = False
    if getattr(args, "offline", None):
        overrides["offline"] = True
    if getattr(args, "allowed_host", None):
        overrides["allowed_hosts"] = tuple(args.allowed_host)
    if getattr(args, "stateless_http", False):
        overrides["stateless_http"] = True
    if getattr(args, "insecure_no_auth", False):
        overrides["insecure_no_auth"] = True
    return dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]


def configure_logging(level: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=level, format="hex-mcp %(levelname)s %(name)s: %(message)s")
    # httpx2 logs every request at INFO; that is noise unless debugging.
    logging.getLogger("httpx2").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    limit_repeats()


def check_http_exposure(settings: Settings) -> None:
    if settings.transport == "stdio" or is_loopback(settings.host):
        return
    if settings.auth_token is None and not settings.insecure_no_auth:
        raise ConfigError(
            f"refusing to serve on {settings.host} without authentication: set HEX_MCP_AUTH_TOKEN (clients then "
            "send 'Authorization: Bearer <token>'), or pass --insecure-no-auth if a proxy in front authenticates."
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        parser.error(str(exc))
    configure_logging(settings.log_level)
    try:
        if args.command == "cache":
            from hex_mcp.cache_commands import run_cache_command

            return run_cache_command(settings, args)
        if args.command in ("call", "tools"):
            from hex_mcp.tryout import run_call, run_tools

            return run_call(settings, args) if args.command == "call" else run_tools(settings, args)
        if args.command == "doctor":
            from hex_mcp.doctor import run_doctor

            return run_doctor(settings)
        check_http_exposure(settings)
        from hex_mcp.redis_store import require_client

        require_client(settings)  # before serving: a missing extra is a setup error, not a failing first call
        return serve(settings)
    except ConfigError as exc:
        sys.stderr.write(f"hex-mcp: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 0


def serve(settings: Settings) -> int:
    from hex_mcp.http_app import http_app
    from hex_mcp.server import create_server

    mcp = create_server(settings)
    if settings.transport == "stdio":
        if sys.stdin.isatty():
            # A person, not a host, started it: plain words on stderr (stdout is the protocol's).
            sys.stderr.write(
                f"hex-mcp {__version__} speaks MCP over stdin/stdout and is waiting for a client. Configure it in "
                "your MCP host (command: hex-mcp). From a terminal: `hex-mcp tools` lists the tools, "
                "`hex-mcp call hex_package name=phoenix` runs one, `hex-mcp doctor` checks the setup. "
                "Ctrl-C to quit.\n"
            )
        from hex_mcp.stdio import serve_stdio

        anyio.run(serve_stdio, mcp)
        return 0
    from hex_mcp.http_app import saturation_for
    from hex_mcp.http_server import build_server, connection_cap

    settings = dataclasses.replace(settings, max_connections=connection_cap(settings.max_connections))
    saturation = saturation_for(settings)
    server = build_server(
        http_app(mcp, settings, saturation),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        saturation=saturation,
        header_timeout=settings.header_timeout,
        grace=settings.shutdown_grace,
    )
    limit_repeats()  # uvicorn has set up its own log handlers by now
    sys.stderr.write(f"hex-mcp {__version__} serving {settings.transport} at {endpoint_url(settings)}\n")
    # uvicorn handles SIGINT/SIGTERM itself (GracefulServer lets calls in flight finish), then re-raises the signal to
    # the previous handler: SIGINT's raises KeyboardInterrupt (exit 0 in main), SIGTERM's default would kill us.
    signal.signal(signal.SIGTERM, _interrupt)
    anyio.run(server.serve)
    return 0


def endpoint_url(settings: Settings) -> str:
    """The URL a client connects to: the SDK serves Streamable HTTP at /mcp and SSE at /sse."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    path = "/sse" if settings.transport == "sse" else "/mcp"
    return f"http://{host}:{settings.port}{path}"


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
