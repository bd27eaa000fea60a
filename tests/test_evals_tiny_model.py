"""A tiny random-weight Qwen2.5-VL (loaded like a real checkpoint) running a small suite end to end:
every episode ends cleanly (no error) and is recorded, whatever the random weights choose to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.runner import EvalSettings, run_eval
from tests.support.evals import FAST_BROWSER
pytest.importorskip("transformers")


def test_tiny_checkpoint_runs_miniwob_end_to_end(tmp_path: Path) -> None:
    from agent.models.settings import ModelSettings
    from agent.models.tiny import make_tiny_model

    checkpoint = make_tiny_model(tmp_path / "tiny")
    # Few pixels: the random vision tower's cost grows with them and the test only needs a valid answer.
    settings = ModelSettings(model=str(checkpoint), device="cpu", max_pixels=160 * 28 * 28, max_new_tokens=64)
    out = tmp_path / "eval"
    summary = run_eval(EvalSettings(suite="miniwob", out=out, tasks=("click-test", "focus-text"), agent="qwen",
                                    environment=FAST_BROWSER, progress=False), model_settings=settings)
    assert summary.overall.instances == 2
    assert summary.overall.error == 0, summary.by_task
    for result_file in (out / "instances").glob("*/result.json"):
        result = json.loads(result_file.read_text())
        assert result["stop_reason"] in ("terminate", "answer", "max_steps", "stuck")
        episode = out / result["episode_dir"]
        header = json.loads((episode / "episode.json").read_text())
        assert header["result"]["steps"] == result["steps"] >= 1
        assert len((episode / "steps.jsonl").read_text().splitlines()) == result["steps"]
        assert header["model"].startswith("transformers:")
