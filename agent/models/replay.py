"""A backend that answers with canned texts: for `agent replay` and for tests where the model is not the subject."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from actions.geometry import ImageBudget
from agent.models.base import Finish, Generation, GenerationRequest, ModelError


class ReplayBackend:
    """Answers each request with the next of `texts`, in order; one more request than texts raises what
    `exhausted()` makes, by default a ModelError (a test that expects one text per call gave too few).

    Image sizes are reported as the real backends would: each screenshot resized by `image_budget`. `finishes`,
    one per text, says why each recorded generation stopped (an answer cut at the token limit stays cut).
    """

    name = "replay"

    def __init__(
        self,
        texts: Iterable[str],
        image_budget: ImageBudget | None = None,
        exhausted: Callable[[], Exception] | None = None,
        finishes: Iterable[Finish | None] | None = None,
    ) -> None:
        self.texts = list(texts)
        self.finishes = list(finishes) if finishes is not None else [None] * len(self.texts)
        if len(self.finishes) != len(self.texts):
            raise ValueError(f"{len(self.finishes)} finishes for {len(self.texts)} texts; give one per text, or none")
        self.image_budget = image_budget or ImageBudget()
        self.exhausted = exhausted
        # A count, not the requests themselves: those hold every screenshot of a long replay.
        self.answered = 0

    @property
    def remaining(self) -> int:
        return len(self.texts) - self.answered

    def generate(self, request: GenerationRequest) -> Generation:
        if self.remaining <= 0:
            if self.exhausted is not None:
                raise self.exhausted()
            raise ModelError(
                f"the replay backend has answered all {len(self.texts)} of its texts and was asked again; "
                "give it one text per expected model call"
            )
        text, finish = self.texts[self.answered], self.finishes[self.answered]
        self.answered += 1
        sizes = [self.image_budget.resized_size(*image.size) for m in request.messages for image in m.images]
        return Generation(text=text, image_sizes=sizes, new_tokens=None, prompt_tokens=None, finish=finish)

    def close(self) -> None:
        pass


__all__ = ["ReplayBackend"]


def recording_replayed(count: int) -> Exception:
    """The stop for a replay whose `count` recorded answers ran out first (the recording ended in an error or
    Ctrl-C, or the replay took another path): an ending, not a fault."""
    from agent.loop import EpisodeStop

    return EpisodeStop("interrupted", f"replay finished: all {count} recorded answers were replayed")
