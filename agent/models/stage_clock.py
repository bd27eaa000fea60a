"""Timing the stages inside transformers' `generate`, which shows none of them: where the vision encoder ends and
the first token's logits arrive."""

from __future__ import annotations

import time
from typing import Any


class StageClock:
    """Marks when the vision encoder ends and when the first logits arrive, from inside `generate`.

    It is a logits processor (called once per new token, the first time right after prefill) and a
    forward hook on the vision tower; it changes nothing it sees.
    """

    def __init__(self, synchronize: Any) -> None:
        self._synchronize = synchronize
        self.start = 0.0
        self.vision_end: float | None = None
        self.first_logits: float | None = None

    def vision_done(self, *_: Any) -> None:
        self._synchronize()
        self.vision_end = time.perf_counter()

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.first_logits is None:
            self._synchronize()
            self.first_logits = time.perf_counter()
        return scores
