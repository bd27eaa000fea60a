"""Comparing greedy tokens that two implementations computed in bf16.

In fp32 on the CPU our engine gives `generate`'s tokens exactly (tests/models/test_engine.py). In bf16 on a GPU the two
run different kernels (flash against masked SDPA, a static cache against a dynamic one, batched vision windows),
whose results differ in the last bits. Where the reference's best two scores are that close, either token is a
right greedy choice, and from there on the two continue different texts that can no longer be compared. So the
tokens must be equal up to the first difference, and that difference must be a near-tie in the reference's
scores: the comparison vLLM's model tests make. A bug (a wrong position, a stale cache slot, a graph replaying
a stale constant) picks a token far down the reference's ranking and fails it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent.models.token_chooser import TokenChooser

# A near-tie: the reference scored the candidate's token within this many standard deviations (of its scores at
# that step) of its own choice. bf16 moves a logit by about 1% of that spread; a random token is several away.
NEAR_TIE = 0.1


@dataclass(frozen=True)
class Agreement:
    same: int  # leading tokens that are equal
    total: int  # tokens of the reference
    gap: float | None  # at the first difference: reference's score of its token minus of ours, in its stds

    @property
    def identical(self) -> bool:
        return self.gap is None


def greedy_agreement(candidate: Sequence[int], reference: Sequence[int], scores: Sequence[Any]) -> Agreement:
    """How far `candidate` follows `reference`, whose step i was chosen from the vocabulary row `scores[i]`."""
    import torch

    same = next((i for i, (a, b) in enumerate(zip(candidate, reference, strict=False)) if a != b),
                min(len(candidate), len(reference)))
    if len(candidate) == len(reference) == same:
        return Agreement(same, len(reference), None)
    if same >= min(len(candidate), len(reference)):
        # One stopped where the other went on without a stop token of its own: not a rounding difference.
        return Agreement(same, len(reference), float("inf"))
    row = scores[same].float()
    spread = row[torch.isfinite(row)].std()
    gap = (row[reference[same]] - row[candidate[same]]) / spread
    return Agreement(same, len(reference), float(gap))


def assert_greedy_agrees(candidate: Sequence[int], reference: Sequence[int], scores: Sequence[Any],
                         what: str) -> Agreement:
    agreement = greedy_agreement(candidate, reference, scores)
    assert agreement.gap is None or agreement.gap <= NEAR_TIE, (
        f"{what}: the tokens part at {agreement.same} of {agreement.total}, where the reference scores its own "
        f"token {agreement.gap:.2f} standard deviations above ours (a near-tie is at most {NEAR_TIE}):\n"
        f"ours      {list(candidate)}\nreference {list(reference)}"
    )
    return agreement


class RecordingChooser(TokenChooser):
    """The engine's token chooser, keeping each row of logits it chose from (one per new token)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows: list[Any] = []

    def choose(self, logits: Any) -> int:
        self.rows.append(logits.float().clone())
        return super().choose(logits)
