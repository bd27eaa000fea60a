"""`python -m agent bench` on the CPU: the table and JSON it writes, the published shapes, and greedy identity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.bench import ARCHS, PHASES, BenchOptions, build_config, build_model, load_processor, run_generate, run_ours
from agent.bench import PeakMemory, step_messages
from agent.cli import main
from agent.models.base import ModelError
from tests.support.tiny_model import reseed_weights

NEW_TOKENS = 8


def test_bench_command_prints_both_variants_and_writes_json(tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "agent", "bench", "--arch", "tiny", "--screens", "320x200", "--new-tokens",
         str(NEW_TOKENS), "--repeats", "2", "--warmup", "1", "--processor", str(tiny_model_dir), "--threads", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=180, env={**os.environ, "COLUMNS": "250"},
    )
    assert done.returncode == 0, done.stderr
    for text in ("generate", "ours", "ratio", "vision encoder ms", "prefill (to 1st token) ms", "decode ms/token",
                 "step total ms", "peak memory MiB", "greedy tokens identical", "320x200 → 308x196"):
        assert text in done.stdout, text

    report = json.loads(out.read_text())
    env = report["environment"]
    for key in ("torch", "transformers", "device", "device_name", "dtype", "attention"):
        assert env[key], key
    assert env["device"] == "cpu" and env["dtype"] == "float32" and report["memory"] == "process_peak_rss"
    assert env["torch_threads"] == 1
    (result,) = report["results"]
    assert result["arch"] == "tiny" and result["screen"] == [320, 200] and result["model_image"] == [308, 196]
    assert result["image_tokens"] == (308 // 28) * (196 // 28)
    assert result["prompt_tokens"] > result["image_tokens"]
    assert result["greedy_identical"] is True
    for variant in ("generate", "ours"):
        median = result["variants"][variant]["median"]
        assert set(median) == {key for key, _ in PHASES}
        # End-of-turn is suppressed, so both make exactly the forced number of tokens.
        assert median["new_tokens"] == NEW_TOKENS
        assert 0 < median["vision_ms"] <= median["prefill_ms"] < median["step_ms"]
        assert median["peak_memory_mib"] > 0
        assert len(result["variants"][variant]["runs"]) == 2
    assert result["ratio_generate_over_ours"]["step_ms"] > 0
    assert report["options"]["new_tokens"] == NEW_TOKENS


def test_ours_reproduces_plain_generate_token_for_token(tiny_model_dir: Path) -> None:
    options = BenchOptions(archs=("tiny",), new_tokens=12, device="cpu", processor=str(tiny_model_dir))
    bench = build_model("tiny", options, load_processor(options.processor))
    # Wide random weights, so greedy choices vary from token to token instead of repeating one id.
    reseed_weights(bench.model, seed=3)
    memory = PeakMemory("cpu")
    for width, height, history in ((200, 320, 1), (300, 180, 2)):
        size = bench.backend.image_budget.resized_size(width, height)
        messages, space = step_messages(width, height, size, history, seed=5)
        generated = run_generate(bench, messages, options, memory)
        ours = run_ours(bench, messages, space, options, memory)
        assert generated.prompt_tokens == ours.prompt_tokens
        assert generated.token_ids == ours.token_ids
        assert len(ours.token_ids) == 12


def test_published_shapes(tiny_model_dir: Path) -> None:
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from agent.models.transformers_fence import model_from_config

    tokenizer = load_processor(str(tiny_model_dir)).tokenizer
    # Parameter counts of the released checkpoints (3.75B and 8.29B, the vision tower included).
    for arch, parameters in (("3b", 3_754_622_976), ("7b", 8_292_166_656)):
        config = build_config(ARCHS[arch], tokenizer)
        assert config.vision_config.out_hidden_size == config.text_config.hidden_size
        assert config.vision_config.fullatt_block_indexes == [7, 15, 23, 31]
        with torch.device("meta"):  # shapes only: no memory, no time
            model = model_from_config(Qwen2_5_VLForConditionalGeneration, config, torch.bfloat16, "sdpa")
        assert sum(p.numel() for p in model.parameters()) == parameters


def test_big_architectures_need_a_gpu() -> None:
    with pytest.raises(ModelError, match="meant for a GPU"):
        build_model("7b", BenchOptions(device="cpu"), processor=None)


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--arch", "13b"], "choose from 3b, 7b, tiny"), (["--screens", "1920by1080"], "WIDTHxHEIGHT"),
     (["--new-tokens", "0"], "at least 1"), (["--screens", "99999999x99999999"], "at most 16384 per side")],
)
def test_bad_flags_are_one_line(flags: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", *flags]) == 2
    assert message in capsys.readouterr().err


def test_drafts_leave_few_passes_per_action(tiny_model_dir: Path) -> None:
    import io

    from rich.console import Console

    from agent.bench import drafts_table
    from agent.bench.drafts import SAMPLE_CALLS, count_sample_passes

    tokenizer = load_processor(str(tiny_model_dir)).tokenizer
    stop = [tokenizer.convert_tokens_to_ids("<|im_end|>")]
    counts = count_sample_passes(tokenizer, len(tokenizer), stop)
    assert len(counts) == sum(len(calls) for _, _, calls in SAMPLE_CALLS)
    # The engine's own loop reproduced every call exactly, in far fewer passes than one per token.
    assert all(1 <= c.passes < (c.tokens - 1) / 2 for c in counts), counts
    out = io.StringIO()
    Console(file=out, width=200).print(drafts_table(str(tiny_model_dir)))
    assert "left_click" in out.getvalue() and "swipe" in out.getvalue()


def test_browser_bench_times_real_steps_by_phase(tmp_path: Path) -> None:
    from environments.browser.driver import BrowserSettings, virtual_display_problem

    displays = "headless" + ("" if virtual_display_problem(BrowserSettings(viewport_width=640, viewport_height=480))
                             else ",virtual")
    out = tmp_path / "bb.json"
    done = subprocess.run(
        [sys.executable, "-m", "agent", "bench-browser", "--screens", "640x480", "--browser-display", displays,
         "--steps", "3", "--out", str(out)], capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| screen | display | capture | act + settle | loop + recording | framework total |" in done.stdout
    results = json.loads(out.read_text())["results"]
    assert [r["display"] for r in results] == displays.split(",")
    for r in results:
        assert 0 < r["capture_ms"] and 0 < r["act_ms"] and r["playwright_capture_ms"] > 0
        assert r["framework_ms"] >= r["capture_ms"] + r["act_ms"]


@pytest.mark.parametrize(("flags", "message"), [
    (["--screens", "640by480"], "--screens: '640by480' is not a screen"),
    (["--browser-display", "virtual,vr"], "--browser-display: vr is not a display mode"),
    (["--steps", "1"], "--steps must be at least 2"),
])
def test_browser_bench_refuses_bad_flags(flags: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench-browser", *flags]) == 2
    assert message in capsys.readouterr().err


def test_parser_bench_prints_its_worst_case_and_percentiles(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench-parser", "--answers", "70", "--max-bytes", "2000"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("70 answers") and "\nworst " in out and "bytes" in out
    assert [line.split()[0] for line in out.splitlines()[3:]] == [
        "all", "valid", "noisy", "cut", "mutated", "nested", "fragments", "adversarial"]


@pytest.mark.parametrize(("flags", "message"), [
    (["--answers", "0"], "--answers must be at least 1, got 0"),
    (["--max-bytes", "10"], "--max-bytes must be at least 64"),
])
def test_parser_bench_refuses_bad_flags(flags: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench-parser", *flags]) == 2
    assert message in capsys.readouterr().err
