"""A backend that answers with canned texts: for `agent replay` and for tests where the model is not the subject."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from actions.geometry import ImageBudget
from agent.models.base import Generation, GenerationRequest, ModelError


class ReplayBackend:
    """Answers each request with the next of `texts`, in order; one more request than texts raises what
    `exhausted()` makes, by default a ModelError (a test that expects one text per call gave too few).

    Image sizes are reported as the real backends would: each screenshot resized by `image_budget`.
    """

    name = "replay"

    def __init__(
        self,
        texts: Iterable[str],
        image_budget: ImageBudget | None = None,
        exhausted: Callable[[], Exception] | None = None,
    ) -> None:
        self.texts = list(texts)
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
        text = self.texts[self.answered]
        self.answered += 1
        sizes = [self.image_budget.resized_size(*image.size) for m in request.messages for image in m.images]
        return Generation(text=text, image_sizes=sizes, new_tokens=None, prompt_tokens=None)

    def close(self) -> None:
        pass


__all__ = ["ReplayBackend"]
