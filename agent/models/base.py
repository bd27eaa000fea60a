"""The model backend protocol: chat messages with screenshots in, the model's text out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from actions.geometry import ImageBudget
from actions.space import ActionSpace
from prompts.messages import ChatMessage


# Why generation stopped: the model ended its turn, it closed its tool call (a server stopping on </tool_call>),
# or it reached the limit of new tokens, which cuts the answer off wherever it was.
Finish = Literal["end_of_turn", "tool_call_end", "length"]


class ModelError(Exception):
    """The model could not be loaded or could not answer; the message says what to do."""


@dataclass(frozen=True)
class GenerationRequest:
    messages: list[ChatMessage]
    # The action space the answer must be in; constrained backends build their grammar from it.
    space: ActionSpace
    # (width, height) of the last screenshot as the model sees it: the bounds of any coordinate.
    image_size: tuple[int, int]


@dataclass(frozen=True)
class Generation:
    text: str
    # (width, height) of every image as the model saw it, in message order.
    image_sizes: list[tuple[int, int]]
    preprocess_s: float = 0.0
    generate_s: float = 0.0
    prompt_tokens: int | None = None
    new_tokens: int | None = None
    # None where it is not known (a replayed answer recorded without it, a server that does not say).
    finish: Finish | None = None


@runtime_checkable
class ModelBackend(Protocol):
    """A vision-language model that answers chat messages."""

    name: str
    # How the backend resizes images; prompts state the resized size, so both sides must agree.
    image_budget: ImageBudget

    def generate(self, request: GenerationRequest) -> Generation: ...

    def close(self) -> None: ...
