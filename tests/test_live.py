"""The terminal view prints model-written text as it is, never as rich markup, and keeps long actions short."""

from __future__ import annotations

import io

from rich.console import Console

from agent.live import ACTION_CHARS, LiveView
from agent.trajectory import Attempt, EpisodeResult, StepRecord, Timings


def record(action: dict[str, object], error: str | None = None) -> StepRecord:
    return StepRecord(index=1, screenshot="step_001.png", screen={"width": 100, "height": 100}, model_image=(100, 100),
                      messages=[], attempts=[Attempt(raw_text="")], action=action, executed=error is None,
                      error=error, timings=Timings(capture=0.01, preprocess=0.02, model=0.3, act=0.04, total=0.4))


def test_model_text_is_printed_verbatim_and_clipped() -> None:
    out = io.StringIO()
    view = LiveView(5, Console(file=out, width=200, color_system=None))
    view.step(record({"action": "type", "text": "price is [/b] ok [pay now]"}))
    view.step(record({"action": "navigate", "url": "x" * 2000}, error="opening [red]" + "y" * 2000 + " failed"))
    view.result(EpisodeResult(task="t", stop_reason="answer", answer="[/] is the answer", steps=2))
    text = out.getvalue()
    assert "price is [/b] ok [pay now]" in text
    assert "opening [red]" in text and "[/] is the answer" in text
    lines = text.splitlines()
    assert max(len(line) for line in lines) < ACTION_CHARS + 120, "a garbled URL stays one short line"
    assert "preprocess 20 ms · model 300 ms" in text  # the same split as the run's end line
