"""Episode folders: names readable in every script and safe as paths, never one that already exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.recording import EpisodeRecorder, episode_dir_for, load_episode
from agent.trajectory import EpisodeResult


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
