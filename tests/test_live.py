"""The terminal view and the recording reader meet model-written text as it is: markup, long lines, odd breaks."""

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


def test_a_recording_keeps_steps_whose_text_holds_unicode_line_breaks(tmp_path) -> None:
    from agent.recording import EpisodeRecorder, load_episode

    recorder = EpisodeRecorder(tmp_path / "ep", {"task": "t"})
    odd = record({"action": "type", "text": "a\u2028b\u0085c\u2029d"})
    recorder.write_step(odd)
    recorder.write_step(record({"action": "wait", "time": 1}).model_copy(update={"index": 2}))
    recorder.finish(EpisodeResult(task="t", stop_reason="max_steps", steps=2))
    _, steps = load_episode(tmp_path / "ep")
    assert [s.index for s in steps] == [1, 2] and steps[0].action == odd.action
    # A crash that cut the last line inside a multi-byte character costs that line only.
    torn = record({"action": "type", "text": "你好"}).model_dump_json().encode("utf-8")
    with (tmp_path / "ep" / "steps.jsonl").open("ab") as f:
        f.write(torn[: torn.index("你".encode()) + 1])
    _, steps = load_episode(tmp_path / "ep")
    assert [s.index for s in steps] == [1, 2]
