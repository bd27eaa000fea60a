"""The terminal view of a running episode: one line per step with its action and timings, and on a terminal a
status line under them saying what the run is doing now and for how long."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from loguru import logger
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.text import Text

from actions.text import clip
from agent.loop import Phase
from agent.trajectory import EpisodeResult, StepRecord, Timings

# The recording keeps the whole action; the terminal line shows its start.
ACTION_CHARS = 240
STEP_PHASES: dict[Phase, str] = {"observe": "looking at the screen", "think": "model thinking", "act": "acting",
                                 "confirm": "waiting for your answer", "finish": "writing the recording"}


class _Status:
    """The status line's text and how long it has been shown; rendered afresh at every refresh, so the time runs."""

    def __init__(self, text: str) -> None:
        self.text, self.since = text, time.monotonic()
        self._spinner = Spinner("dots", style="cyan")

    def set(self, text: str) -> None:
        self.text, self.since = text, time.monotonic()

    def __rich__(self) -> Spinner:
        self._spinner.update(text=Text(f" {self.text} {time.monotonic() - self.since:.1f} s", style="dim"))
        return self._spinner


class LiveView:
    """Used as a `with` block around an episode's start-up, steps and closing. On a terminal the status line
    stays under the printed lines (log lines too: rich prints what goes to stderr above it) and is gone at the
    end; elsewhere the run's phases are log lines and the steps' phases debug lines."""

    def __init__(self, max_steps: int, console: Console | None = None, environment: str = "environment"):
        self.console = console or Console(stderr=True)
        self.max_steps = max_steps
        self.environment = environment
        self.timings: list[Timings] = []
        self._status = _Status("starting")
        self._live: Live | None = None

    def __enter__(self) -> LiveView:
        if self.console.is_terminal:
            # stdout stays stdout: only stderr, where the logs go, is printed above the line.
            self._live = Live(self._status, console=self.console, transient=True, refresh_per_second=8,
                              redirect_stdout=False)
            self._live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def phase(self, text: str) -> None:
        """What the run does now, outside the steps: "loading the model", "closing the browser"."""
        self._show(text, plain=logger.info)

    def step_phase(self, index: int, phase: Phase) -> None:
        """The loop's on_phase: what step `index` does now."""
        what = STEP_PHASES[phase]
        if index == 1 and phase == "observe":
            what = f"starting the {self.environment}, {what}"  # the first screen starts the environment
        self._show(what if phase == "finish" else f"step {index}/{self.max_steps}: {what}", plain=logger.debug)
        if phase == "confirm" and self._live is not None:
            self._live.stop()  # the question and its input() get the terminal to themselves

    def _show(self, text: str, plain: Callable[..., None]) -> None:
        self._status.set(text)
        if self._live is None:
            plain("{}", text)
        elif self._live.is_started:
            self._live.refresh()  # at once, not at the next tick
        else:
            self._live.start(refresh=True)  # after a question

    def step(self, record: StepRecord) -> None:
        # Model-written text goes through escape(): "[/b]" in it would otherwise be read as rich markup.
        t = record.timings
        self.timings.append(t)
        action = (escape(clip(json.dumps(record.action, ensure_ascii=False), ACTION_CHARS)) if record.action
                  else "[red]no usable action[/]")
        mark = "[green]✓[/]" if record.executed else ("[red]✗[/]" if record.error else "·")
        self.console.print(
            f"{mark} step {record.index}/{self.max_steps} {action}  "
            f"[dim]capture {t.capture * 1000:.0f} ms · preprocess {t.preprocess * 1000:.0f} ms · "
            f"model {t.model * 1000:.0f} ms · act {t.act * 1000:.0f} ms[/]",
            markup=True, highlight=False, soft_wrap=True,
        )
        if record.error:
            self.console.print(f"  [red]{escape(clip(record.error, ACTION_CHARS))}[/]", markup=True, highlight=False,
                               soft_wrap=True)

    def result(self, result: EpisodeResult) -> None:
        style = "green" if result.success else "yellow"
        what = result.stop_reason + (f" ({result.status})" if result.status else "")
        detail = result.answer or result.error or ""
        tail = f" {escape(detail)}" if detail else ""
        self.console.print(f"[{style}]{what}[/] after {result.steps} steps{tail}", markup=True, highlight=False,
                           soft_wrap=True)
        if self.timings:
            self.console.print(f"[dim]{Timings.episode_summary(self.timings)}[/]", markup=True, highlight=False,
                               soft_wrap=True)
        if result.out_dir:
            self.console.print(f"recording: {result.out_dir}/report.html", highlight=False, soft_wrap=True)

