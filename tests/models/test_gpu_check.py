"""scripts/gpu_check.sh --cpu: the GPU check's stages, run on the CPU with the tiny architecture, so the script
that a lent GPU runs once in a while is known to work before it gets there."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.support.paths import ROOT



@pytest.mark.timeout(1000)  # the script's own bounds (880 s in all on the CPU) end it first
def test_the_cpu_mode_writes_the_results_and_the_table(tmp_path: Path) -> None:
    done = subprocess.run(["bash", "scripts/gpu_check.sh", "--cpu", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=950)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["mode"] == "cpu"
    assert {s["stage"]: s["result"].split(":")[0] for s in results["stages"]} == {
        "wheels": "skipped", "env": "ok", "tests": "ok", "bench tiny": "ok"}
    assert results["environment"]["problems"] == []
    outcomes = {t["test"].split("::")[1]: t["outcome"] for t in results["tests"]}
    # The GPU tests ran on the tiny architecture instead of skipping; only the CUDA graphs need CUDA itself.
    assert outcomes.pop("test_cuda_graphs_are_captured_and_replay_like_eager_passes") == "skipped"
    assert len(outcomes) >= 5 and set(outcomes.values()) == {"passed"}, outcomes
    peak = next(t for t in results["tests"] if t["test"].endswith("test_peak_memory_of_a_7b_step_at_1080p"))
    assert float(peak["properties"]["peak_memory_mib"]) > 0
    (bench,) = results["bench"]
    assert [r["screen"] for r in bench["report"]["results"]] == [[320, 200], [200, 320]]
    for result in bench["report"]["results"]:
        assert result["greedy_identical"] is True
        for variant in ("generate", "ours"):
            assert result["variants"][variant]["median"]["step_ms"] > 0

    table = (tmp_path / "table.md").read_text()
    for text in ("| tests | ok |", "| bench tiny | ok |", "test_peak_memory_of_a_7b_step_at_1080p | passed",
                 "| arch | screen → model image (tokens) | phase | generate | ours | ratio |",
                 "| tiny | 320x200 → 308x196", "step total ms"):
        assert text in table, text
    log = (tmp_path / "gpu_check.log").read_text()
    assert "==> " in log and "done:" in log
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bench-tiny.json", "gpu_check.log", "results.json", "table.md", "tests.xml"]


def test_a_stage_that_fails_or_hangs_costs_its_bound_and_the_rest_still_runs(tmp_path: Path) -> None:
    """The stage runner on its own, with a hanging and a failing command (seconds, no model)."""
    script = (ROOT / "scripts" / "gpu_check.sh").read_text()
    runner = script[script.index("say() {"):script.index('say "GPU check')]
    probe = f"""set -euo pipefail
WORK={tmp_path}
{runner}
stage hangs 1 sleep 30
stage fails 5 false
stage works 5 true
cat "$WORK/stages.tsv"
"""
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in (tmp_path / "stages.tsv").read_text().splitlines()]
    assert [(name, result) for name, result, *_ in rows] == [
        ("hangs", "timed out after 1 s"), ("fails", "failed (exit 1)"), ("works", "ok")]
    assert int(rows[0][3]) < 10  # the hanging stage cost its bound, not its 30 s


def test_the_greedy_comparison_excuses_near_ties_only() -> None:
    """What the GPU tests hold bf16 tokens to (tests/support/greedy.py), on made-up scores."""
    import torch

    from tests.support.greedy import assert_greedy_agrees, greedy_agreement

    row = torch.tensor([0.0, 1.0, 5.0, 4.99, -1.0, -float("inf")])  # the reference picks 2; 3 is a near-tie
    scores = [row] * 3
    assert greedy_agreement([2, 2, 2], [2, 2, 2], scores).identical
    near = assert_greedy_agrees([2, 3, 0], [2, 2, 2], scores, "near-tie")
    assert near.same == 1 and 0 < near.gap < 0.01
    with pytest.raises(AssertionError, match="part at 1 of 3"):
        assert_greedy_agrees([2, 0, 2], [2, 2, 2], scores, "decisive")
    with pytest.raises(AssertionError):
        assert_greedy_agrees([2, 2], [2, 2, 2], scores, "stopped early")
