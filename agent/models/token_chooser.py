"""How the local engine (agent/models/engine.py) picks each next token: the grammar's mask, then greedy or
sampled."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class TokenChooser:
    """Picks each next token from one row of logits: the grammar's mask, then argmax or temperature sampling.

    It holds the per-answer state (the grammar matcher), so a new one is made per step.
    """

    def __init__(
        self,
        stop_token_ids: Sequence[int],
        grammar: Any | None = None,  # xgrammar CompiledGrammar
        temperature: float = 0.0,
        min_new_tokens: int = 0,
    ) -> None:
        self.stop_token_ids = list(stop_token_ids)
        self.temperature = temperature
        self.min_new_tokens = min_new_tokens
        self.chosen = 0
        self._matcher = None
        self._bitmask = None
        if grammar is not None:
            import xgrammar as xgr

            self._matcher = xgr.GrammarMatcher(grammar)
            self._bitmask = xgr.allocate_token_bitmask(1, grammar.tokenizer_info.vocab_size)

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def choose(self, logits: Any) -> int:
        """The next token from a (vocab,) row of logits (changed in place); the grammar accepts it."""
        import torch

        scores = logits.float().unsqueeze(0)
        if self._matcher is not None:
            import xgrammar as xgr

            self._matcher.fill_next_token_bitmask(self._bitmask)
            xgr.apply_token_bitmask_inplace(scores, self._bitmask.to(scores.device))
        if self.chosen < self.min_new_tokens:
            scores[:, self.stop_token_ids] = -float("inf")
        if self.greedy:
            token = int(scores.argmax(dim=-1))
        else:
            probabilities = torch.softmax(scores / self.temperature, dim=-1)
            token = int(torch.multinomial(probabilities, 1))  # torch's RNG, seeded by the backend
        self.accept(token)
        return token

    def accept(self, token: int) -> None:
        self.chosen += 1
        matcher = self._matcher
        if matcher is not None and not matcher.is_terminated() and not matcher.accept_token(token):
            raise RuntimeError(f"the grammar refused token {token} that its own mask allowed")

    def is_stop(self, token: int) -> bool:
        return token in self.stop_token_ids

    def forced_text(self) -> str:
        """Characters the grammar allows in exactly one way from here (empty without a grammar)."""
        if self._matcher is None or self._matcher.is_terminated() or not self.greedy:
            return ""
        return str(self._matcher.find_jump_forward_string())
