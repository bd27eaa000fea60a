"""The model backend protocol: chat messages with screenshots in, the model's text out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from actions.geometry import ImageBudget
from actions.space import ActionSpace
from prompts.messages import ChatMessage


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


@runtime_checkable
class ModelBackend(Protocol):
    """A vision-language model that answers chat messages."""

    name: str
    # How the backend resizes images; prompts state the resized size, so both sides must agree.
    image_budget: ImageBudget

    def generate(self, request: GenerationRequest) -> Generation: ...

    def close(self) -> None: ...
