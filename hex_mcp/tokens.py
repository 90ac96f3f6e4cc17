"""Token counts for answer budgets: o200k, the tokenizer of current OpenAI models and a fair proxy for others.

The counter is `bpe-openai` (its tables are compiled into the wheel, so nothing is downloaded at run time). It is
loaded on the first count, not at start-up, because loading the tables takes about 0.6 s and only answers that fit
text to a budget (the changelog in hex_diff) ever count.

Where `bpe-openai` is not installed (no wheel for the platform), the count is the text's UTF-8 length in bytes:
every o200k token stands for at least one byte, so that count is never below the real one and a budget still
holds; answers are then shorter than they could be, never longer.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable

__all__ = ["count_tokens", "counter_ready", "exact_counter"]

log = logging.getLogger(__name__)


@functools.cache
def exact_counter() -> Callable[[str], int] | None:
    """The o200k counter, or None when bpe-openai cannot be imported."""
    try:
        # bpe-openai reads its tables through a deprecated importlib API; the warning is its own, not ours.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import bpe_openai  # type: ignore[import-untyped]  # noqa: PLC0415 - 0.6 s to load: only when counting

            encoding = bpe_openai.get_encoding("o200k_base")
    except Exception as exc:  # ImportError, or a broken native module: fall back to the byte bound
        log.info("o200k token counter unavailable (%s); budgets count UTF-8 bytes instead", exc)
        return None

    def count(text: str) -> int:
        # encode_ordinary: a changelog may well contain "<|endoftext|>", which encode() refuses to read.
        return len(encoding.encode_ordinary(text))

    return count


def counter_ready() -> bool:
    """Whether counting is cheap now: the tables are loaded (or known to be missing), so no 0.6 s load is due."""
    return exact_counter.cache_info().currsize > 0


def count_tokens(text: str) -> int:
    """o200k tokens of `text`, or an upper bound on them (its UTF-8 bytes) without bpe-openai."""
    exact = exact_counter()
    return exact(text) if exact is not None else len(text.encode("utf-8"))
