"""The terminal view and the recording reader meet model-written text as it is: markup, long lines, odd breaks;
the status line on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator

import pytest
from loguru import logger
from rich.console import Console

from agent.live import ACTION_CHARS, LiveView
from agent.logs import stderr_sink
from agent.trajectory import Attempt, EpisodeResult, StepRecord, Timings
from tests.support.terminal import screen


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


@pytest.fixture()
def logged() -> Iterator[list[tuple[str, str]]]:
    """What the project logs during the test, as (level, message); and the command line's sink, formatted plainly,
    so log lines reach sys.stderr as they do in a run."""
    seen: list[tuple[str, str]] = []
    ids = [logger.add(lambda m: seen.append((m.record["level"].name, m.record["message"])), level="DEBUG"),
           logger.add(stderr_sink, level="INFO", format="{level} {message}")]
    yield seen
    for i in ids:
        logger.remove(i)


def test_on_a_terminal_a_status_line_follows_the_phases_and_leaves_a_clean_screen(logged) -> None:
    out = io.StringIO()
    view = LiveView(5, Console(file=out, width=200, force_terminal=True), environment="browser")
    with view:
        view.phase("loading the model")
        logger.info("loaded the model")
        view.step_phase(1, "observe")
        view.step_phase(1, "think")
        view.step_phase(1, "act")
        view.step(record({"action": "left_click", "coordinate": [1, 2]}))
        view.step_phase(2, "observe")
        view.phase("closing the browser")
    view.result(EpisodeResult(task="t", stop_reason="terminate", status="success", steps=1))
    shown = out.getvalue()
    for text in ("loading the model", "step 1/5: starting the browser, looking at the screen",
                 "step 1/5: model thinking", "step 1/5: acting", "step 2/5: looking at the screen",
                 "closing the browser"):
        assert re.search(re.escape(text) + r" \d+\.\d s", shown), text
    final = [line for line in screen(shown) if line]
    # The status line is gone; the log line and the step line were printed above it, whole.
    assert final[0] == "INFO loaded the model"
    assert final[1].startswith('✓ step 1/5 {"action": "left_click", "coordinate": [1, 2]}  capture 10 ms')
    assert final[2] == "terminate (success) after 1 steps" and final[3].startswith("per step")
    assert len(final) == 4
    assert not [m for level, m in logged if m.startswith("step ") or m == "loading the model"]


def test_without_a_terminal_only_plain_lines_are_printed(logged) -> None:
    out = io.StringIO()
    view = LiveView(5, Console(file=out, width=200), environment="browser")
    with view:
        view.phase("loading the model")
        view.step_phase(1, "observe")
        view.step_phase(1, "think")
        view.step(record({"action": "wait", "time": 1}))
    view.result(EpisodeResult(task="t", stop_reason="max_steps", steps=1))
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue() and len(lines) == 3
    assert lines[0].startswith('✓ step 1/5 {"action": "wait", "time": 1}') and lines[1].startswith("max_steps after 1")
    # The run's phases are log lines; the steps' are debug lines (three a step would crowd a log).
    assert ("INFO", "loading the model") in logged
    assert ("DEBUG", "step 1/5: starting the browser, looking at the screen") in logged
    assert ("DEBUG", "step 1/5: model thinking") in logged


def test_a_question_to_the_user_gets_the_terminal_to_itself() -> None:
    out = io.StringIO()
    view = LiveView(5, Console(file=out, width=200, force_terminal=True))
    with view:
        view.step_phase(1, "think")
        view.step_phase(1, "confirm")
        asked_at = len(out.getvalue())
        time.sleep(0.3)  # the status line would refresh in this time
        assert len(out.getvalue()) == asked_at, "nothing is drawn while the question waits"
        view.step_phase(1, "act")
        assert "step 1/5: acting" in out.getvalue()[asked_at:]
