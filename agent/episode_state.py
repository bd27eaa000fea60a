"""What the agent loop (agent/loop.py) carries through an episode: its state from step to step, and what came of
asking the model during one step."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from actions.base import Action
from actions.parsing import ParsedAction
from agent.screen_change import ScreenSignature
from agent.trajectory import Attempt, StepRecord, Timings
from prompts.messages import ChatMessage


@dataclass
class EpisodeState:
    """What the loop carries from one step to the next."""

    steps: list[StepRecord] = field(default_factory=list)
    # Screenshots of the most recent steps, for the prompt's history images.
    screenshots: list[Image.Image] = field(default_factory=list)
    # The latest steps' screens, for no-change feedback and stuck detection (`keep_signatures` of them).
    signatures: list[ScreenSignature] = field(default_factory=list)
    keep_signatures: int = 2
    reset: bool = True  # the first step resets the environment; without, it starts from the screen as it is
    seen: int = 0  # screens seen so far
    # What to tell the model in the next prompt, one line each (an error, a refusal).
    notes: list[str] = field(default_factory=list)

    def see(self, screenshot: Image.Image, scale: float) -> bool | None:
        """Remember this step's screen; whether it differs from the previous step's (None on the first)."""
        self.seen += 1
        self.signatures.append(ScreenSignature.of(screenshot, scale))
        del self.signatures[:-self.keep_signatures]
        return None if self.seen == 1 else not self.signatures[-1].same_as(self.signatures[-2])

    def keep_screenshot(self, screenshot: Image.Image, keep: int) -> None:
        self.screenshots.append(screenshot)
        del self.screenshots[:-keep]


@dataclass
class Decision:
    """What came of asking the model during one step."""

    attempts: list[Attempt] = field(default_factory=list)
    messages: list[ChatMessage] = field(default_factory=list)
    parsed: ParsedAction | None = None
    mapped: Action | None = None
    error: str | None = None
    timings: Timings = field(default_factory=Timings)
