"""Small text helpers every answer shares: first sentences, word-boundary cuts, byte sizes."""

from __future__ import annotations

import re

# A sentence ends at ". " before a capital or a backtick, but not after "e.g", "i.e" or "etc".
SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\betc)\.\s+(?=[A-Z`])")


def first_sentence(text: str) -> str:
    """The first sentence of `text`, without its full stop: error messages say what happened there."""
    end = SENTENCE_END.search(text)
    return (text[: end.start()] if end else text).rstrip(".")


def split_sentence(text: str) -> tuple[str, str | None]:
    """ "X failed (HTTP 401). Set Y." → ("X failed (HTTP 401).", "Set Y.")"""
    end = SENTENCE_END.search(text)
    if end is None:
        return text, None
    return text[: end.start() + 1], text[end.end() :].strip() or None


def shorten(text: str, limit: int, *, ellipsis: str = " …") -> str:
    """`text` with whitespace folded, cut at a word boundary to about `limit` characters, marked when cut."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(",.;:") + ellipsis


def human_bytes(size: int | None) -> str:
    """1536 → "1.5 KB"; None → "?"."""
    if size is None:
        return "?"
    for div, unit in ((1024**3, "GB"), (1024**2, "MB"), (1024, "KB")):
        if size >= div:
            return f"{size / div:.1f} {unit}"
    return f"{size} B"
