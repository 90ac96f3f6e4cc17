"""Parsing pasted text off the event loop, within a time bound.

`hex_outdated` takes up to 200,000 characters of mix.lock, mix.exs or `name version` lines. Reading a large paste
costs a few hundred milliseconds of CPU, and every other call, `/healthz` included, would wait for it if it ran on
the event loop. A large paste is parsed in a worker process (anyio's pool: reused, at most one per core) and the
worker is killed when it runs past `PARSE_SECONDS`; as CPU time never exceeds wall time, that bounds CPU time too.
A small paste, far below a millisecond per kilobyte, is parsed in place: a process hop would cost more than it saves.
"""

from __future__ import annotations

import logging

import anyio
import anyio.to_process

from hex_mcp.deps_input import DepsInput, parse_deps
from hex_mcp.errors import InvalidInput

log = logging.getLogger(__name__)

INLINE_MAX_CHARS = 16_000  # a 60-dependency mix.lock; parsed in a few milliseconds
PARSE_SECONDS = 5.0  # worst case measured at 200,000 characters: ~0.25 s


async def parse_deps_off_loop(text: str, *, seconds: float = PARSE_SECONDS) -> DepsInput:
    """`parse_deps(text)`, off the event loop when `text` is large; raises `DepsInputError` as it does."""
    if len(text) <= INLINE_MAX_CHARS:
        return parse_deps(text)
    try:
        with anyio.fail_after(seconds):
            try:
                return await anyio.to_process.run_sync(parse_deps, text, cancellable=True)
            except anyio.BrokenWorkerProcess:
                # A pooled worker that died since its last use (killed when another parse ran out of time, or
                # by the OS) is not reused: the retry starts a fresh one.
                log.info("a parse worker had died; retrying in a new one")
                return await anyio.to_process.run_sync(parse_deps, text, cancellable=True)
    except TimeoutError:
        raise InvalidInput(
            f"deps took over {seconds:g} s to read and was given up; paste the mix.lock or fewer lines."
        ) from None
    except OSError as exc:  # no worker process could be started (a sandbox, a process limit): use a thread
        log.warning("parsing in a thread: no worker process (%s)", exc)
        return await anyio.to_thread.run_sync(parse_deps, text)
