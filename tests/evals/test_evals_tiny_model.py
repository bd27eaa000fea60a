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


def test_results_name_their_model_and_a_folder_refuses_another(tmp_path: Path) -> None:
    import shutil

    from agent.models.identity import identify, weights_fingerprint
    from agent.models.settings import ModelSettings
    from agent.models.tiny import make_tiny_model
    from agent.models.transformers_backend import TransformersBackend
    from evals.results import ResultsFolderError

    checkpoint = make_tiny_model(tmp_path / "tiny")
    settings = ModelSettings(model=str(checkpoint), device="cpu", max_pixels=160 * 28 * 28, max_new_tokens=64)
    out = tmp_path / "eval"
    run = EvalSettings(suite="miniwob", out=out, tasks=("click-test",), agent="qwen", environment=FAST_BROWSER,
                       progress=False)
    run_eval(run, model_settings=settings)

    loaded = TransformersBackend(settings)
    expected = {"model": str(checkpoint), "backend": "transformers", "engine": "fast",
                "weights": weights_fingerprint(checkpoint), "min_pixels": loaded.image_budget.min_pixels,
                "max_pixels": loaded.image_budget.max_pixels}
    loaded.close()
    assert expected["max_pixels"] == 160 * 28 * 28 and expected["min_pixels"] == 3136  # the checkpoint's own
    (result_file,) = (out / "instances").glob("*/result.json")
    for recorded in (json.loads(result_file.read_text())["model"], json.loads((out / "summary.json").read_text())["model"],
                     json.loads((out / "eval.json").read_text())["model"]):
        assert {k: recorded[k] for k in expected} == expected
    assert expected["weights"] in (out / "index.html").read_text()

    run_eval(run, model_settings=settings)  # the same model resumes (nothing left to run)
    copy = Path(shutil.copytree(checkpoint, tmp_path / "other"))
    (copy / "model.safetensors").write_bytes((copy / "model.safetensors").read_bytes() + b" ")
    for other, changed in [(settings.model_copy(update={"model": str(copy)}), "weights="),
                           (settings.model_copy(update={"engine": "generate"}), "engine="),
                           (settings.model_copy(update={"max_pixels": 200 * 28 * 28}), "max_pixels=")]:
        assert identify(other) != identify(settings)
        with pytest.raises(ResultsFolderError, match=changed):
            run_eval(run, model_settings=other)
    assert len(list((out / "instances").glob("*/result.json"))) == 1
