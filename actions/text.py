"""Model-written text shortened for messages and logs: a garbled 500-character URL must not flood them."""

from __future__ import annotations


def clip(text: str, limit: int = 100) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
