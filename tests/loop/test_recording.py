"""Episode folders: names readable in every script and safe as paths, never one that already exists; a
screenshot written off the step's path and named only with its step's record."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from agent.recording import EpisodeRecorder, episode_dir_for, load_episode
from agent.trajectory import EpisodeResult, StepRecord


@pytest.mark.parametrize(("task", "slug"), [
    ("打开设置，把 Wi-Fi 关掉", "打开设置-把-wi-fi-关掉"),
    ("Café à Zoë: réserve 2 places!", "café-à-zoë-réserve-2-places"),
    ("नमस्ते दुनिया", "नमस्ते-दुनिया"),  # the vowel signs and virama are marks: kept, or the words fall apart
    ("Cafe\u0301", "café"),  # decomposed é names the same folder as the composed one
    ("../../etc/passwd\x00 or C:\\Windows", "etc-passwd-or-c-windows"),
    ("🙂🙂", "task"),
    ("查找" * 30, "查找" * 20),
], ids=["chinese", "accents", "devanagari", "decomposed", "path-characters", "emoji", "long"])
def test_folder_names_keep_the_task_readable_and_safe(tmp_path: Path, task: str, slug: str) -> None:
    path = episode_dir_for(tmp_path, task)
    assert path.parent == tmp_path and path.name.split("-", 2)[2] == slug
    EpisodeRecorder(path, {"task": task}).finish(EpisodeResult(task=task, stop_reason="interrupted", steps=0))
    assert load_episode(path)[0]["task"] == task, "the folder holds the episode under that name"


def test_a_folder_that_exists_is_never_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Both names in the same second, as two runs started together get.
    monkeypatch.setattr("time.strftime", lambda fmt: "20250101-120000")
    first = episode_dir_for(tmp_path, "打开设置")
    first.mkdir()
    second = episode_dir_for(tmp_path, "打开设置")
    assert first.name == "20250101-120000-打开设置" and second.name == "20250101-120000-打开设置-2"
    assert not second.exists()


def step_record(index: int, shot: str) -> StepRecord:
    return StepRecord(index=index, screenshot=shot, screen={"width": 64, "height": 48, "scale": 1.0},
                      model_image=(64, 48), messages=[], attempts=[])


def test_a_screenshot_takes_its_name_only_with_its_step_record(tmp_path: Path) -> None:
    recorder = EpisodeRecorder(tmp_path / "ep", {"task": "t"})
    image = Image.new("RGB", (64, 48), (200, 10, 10))
    first = recorder.save_screenshot(1, image)
    assert not (recorder.dir / first).exists(), "a screenshot on disk before its record"
    recorder.write_step(step_record(1, first))
    recorder.flush()  # both are written in the background, the screenshot first
    assert Image.open(recorder.dir / first).getpixel((5, 5)) == (200, 10, 10)
    assert len(load_episode(recorder.dir)[1]) == 1
    recorder.save_screenshot(2, image)  # the step crashed before its record
    recorder.finish(EpisodeResult(task="t", stop_reason="error", steps=1))
    header, steps = load_episode(recorder.dir)
    assert [s.screenshot for s in steps] == [first]
    assert sorted(p.name for p in (recorder.dir / "screenshots").iterdir()) == ["step_001.png"]
