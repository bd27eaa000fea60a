"""The terminal view of a running episode: one line per step with its action and timings."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape

from actions.text import clip
from agent.trajectory import EpisodeResult, StepRecord, Timings

# The recording keeps the whole action; the terminal line shows its start.
ACTION_CHARS = 240


class LiveView:
    def __init__(self, max_steps: int, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.max_steps = max_steps
        self.timings: list[Timings] = []

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
        self.console.print(f"[{style}]{what}[/] after {result.steps} steps {escape(detail)}", markup=True,
                           highlight=False, soft_wrap=True)
        if self.timings:
            self.console.print(f"[dim]{Timings.episode_summary(self.timings)}[/]", markup=True, highlight=False,
                               soft_wrap=True)
        if result.out_dir:
            self.console.print(f"recording: {result.out_dir}/report.html", highlight=False, soft_wrap=True)

