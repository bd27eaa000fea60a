"""The fast engine's CUDA paths: random weights in the published 3B and 7B architectures, bf16, CUDA graphs.

`pytest -m gpu` on a GPU (scripts/gpu_check.sh runs it there); without CUDA these skip. With
AGENT_GPU_TESTS_ON_CPU=1 (`scripts/gpu_check.sh --cpu`, which CI runs) they run on the CPU instead, on the tiny
architecture in fp32, so their code keeps working where no GPU is; what needs CUDA itself (graphs) still skips.
Numbers worth reading (peak memory, how many tokens agreed, the largest differences) are printed and recorded
as JUnit properties, which gpu_check.sh puts in its table.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from agent.bench import BenchOptions, PeakMemory, build_model, load_processor, run_ours, step_messages
from agent.bench.archs import BenchModel
from agent.models.engine import CHUNK_BUCKETS
from agent.models.vision_fast import FastVision
from tests.support.greedy import RecordingChooser, assert_greedy_agrees
from tests.support.vision import random_pixels, sharpen_vision, stock_image_features

CUDA = torch.cuda.is_available()
ON_CPU = not CUDA and os.environ.get("AGENT_GPU_TESTS_ON_CPU") == "1"
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not (CUDA or ON_CPU), reason="needs CUDA (AGENT_GPU_TESTS_ON_CPU=1 runs these on the tiny "
                       "architecture on the CPU)"),
]

# Both action spaces, landscape and portrait; on the CPU smaller, so the tiny model's attention stays cheap.
SCREENS = ((1280, 720), (720, 1280), (1000, 700)) if CUDA else ((320, 200), (200, 320), (250, 180))
FULL_HD = (1920, 1080) if CUDA else (320, 200)
NEW_TOKENS = 40 if CUDA else 16
Record = Callable[[str, object], None]


def arch(name: str) -> str:
    """The published architecture on a GPU, the tiny one standing in for it on the CPU."""
    return name if CUDA else "tiny"


@pytest.fixture(scope="module")
def processor(tiny_model_dir: Path) -> Any:
    return load_processor(str(tiny_model_dir))  # no download: the tiny checkpoint's tokenizer and processor


@pytest.fixture(scope="module")
def model_3b(processor: Any) -> Iterator[BenchModel]:
    options = BenchOptions(archs=(arch("3b"),), new_tokens=NEW_TOKENS, constrained=True)
    bench = build_model(arch("3b"), options, processor)
    assert str(bench.model.dtype) == ("torch.bfloat16" if CUDA else "torch.float32")
    yield bench
    bench.backend.close()


def prepared_step(bench: BenchModel, width: int, height: int, seed: int) -> tuple[Any, Any]:
    """The agent's real prompt for a `width`x`height` screen of noise, prepared on the model's device."""
    backend = bench.backend
    messages, space = step_messages(width, height, backend.image_budget.resized_size(width, height), 1, seed)
    return backend.prepare(messages), space


@pytest.mark.parametrize("constrained", [False, True], ids=["free", "grammar"])
def test_greedy_tokens_are_those_of_generate(model_3b: BenchModel, constrained: bool,
                                             record_property: Record) -> None:
    backend = model_3b.backend
    same = total = 0
    for seed, (width, height) in enumerate(SCREENS):
        prepared, space = prepared_step(model_3b, width, height, seed)
        grammar = backend.grammars.compiled(space, *prepared.image_sizes[-1], None) if constrained else None
        # Unconstrained, the stop tokens are held back so the whole length is compared.
        forced = 0 if constrained else NEW_TOKENS
        got, _ = backend.run(prepared, grammar, NEW_TOKENS, forced)
        output = backend.generate_output(prepared, grammar, NEW_TOKENS, forced, output_scores=True,
                                         return_dict_in_generate=True)
        want = output.sequences[0, prepared.prompt_tokens:].tolist()
        if not CUDA:
            assert got == want, f"{width}x{height}: fp32 leaves no near-ties to excuse"
        agreement = assert_greedy_agrees(got, want, [row[0] for row in output.scores], f"{width}x{height}")
        print(f"{width}x{height}: {agreement.same} of {agreement.total} tokens as generate's"
              + ("" if agreement.identical else f", then a near-tie ({agreement.gap:.3f} std)"))
        same, total = same + agreement.same, total + agreement.total
    record_property("tokens_as_generate", f"{same}/{total}")


def test_cuda_graphs_are_captured_and_replay_like_eager_passes(model_3b: BenchModel,
                                                               record_property: Record) -> None:
    if not CUDA:
        pytest.skip("CUDA graphs need CUDA")
    backend, engine = model_3b.backend, model_3b.backend.engine
    engine.reset()  # a new cache allocation: the next step captures the graphs again
    prepared, _ = prepared_step(model_3b, *SCREENS[0], seed=0)
    backend.run(prepared, None, NEW_TOKENS, NEW_TOKENS)
    # The engine checked the first replay against an eager pass itself; a disagreement turns graphs off.
    assert engine.use_graphs, "capture failed or the first replay disagreed (see the warning above)"
    assert engine.captured_buckets == sorted(CHUNK_BUCKETS)
    # Every bucket, not only the one the step used first: a replay, then the same pass run eagerly.
    differences = engine.replay_differences()
    assert sorted(differences) == sorted(CHUNK_BUCKETS)
    worst = max(largest for largest, _ in differences.values())
    # Held to the engine's own tolerance for its first replay.
    assert all(within for _, within in differences.values()), differences
    print(f"graph replays against eager passes: largest logit difference {worst:.2e}")
    record_property("graph_replay_max_abs_diff", f"{worst:.2e}")


def test_fast_vision_matches_the_stock_tower(model_3b: BenchModel, record_property: Record) -> None:
    """Against the stock tower in fp32: the fast one in the model's dtype may be off by what rounding to that
    dtype costs the stock tower itself (bf16 on the CPU: about 1.4% at 1280 wide, 8 blocks), not more."""
    visual = model_3b.backend.visual
    # As sharp as tests/models/test_vision_fast.py's towers whatever the width (there: std 0.1 at width 64).
    sharpen_vision(model_3b.model, seed=1, std=0.8 / math.sqrt(visual.config.hidden_size))
    model_width, model_height = model_3b.backend.image_budget.resized_size(*FULL_HD)
    grids = [(1, model_height // 14, model_width // 14)]  # 1920x1080 native: 78x138 patches, 180 windows
    pixels = random_pixels(grids, seed=3, device=model_3b.backend.device, dtype=model_3b.model.dtype)
    exact = stock_image_features(copy.deepcopy(visual).float(), pixels.float(), grids)

    def error(features: torch.Tensor) -> float:
        return float((features.float() - exact).norm() / exact.norm())

    rounding = error(stock_image_features(visual, pixels, grids))
    fast = FastVision(visual)
    got = error(fast(pixels, grids))
    # The comparison can fail: attention across windows (all blocks full) is far outside it.
    fast.fullatt_blocks = frozenset(range(len(visual.blocks)))
    wrong = error(fast(pixels, grids))
    print(f"vision at {grids} against the stock tower in fp32: fast {got:.2e}, stock in {model_3b.model.dtype} "
          f"{rounding:.2e}, full attention everywhere {wrong:.2e}")
    record_property("vision_relative_error", f"fast {got:.2e}, stock {rounding:.2e}")
    assert got <= 2 * rounding + 1e-4
    assert wrong > 5 * max(got, rounding, 1e-3)


def test_the_reused_prompt_start_gives_the_tokens_of_a_fresh_prefill(model_3b: BenchModel,
                                                                     record_property: Record) -> None:
    backend, engine = model_3b.backend, model_3b.backend.engine

    def step(seed: int) -> tuple[list[int], RecordingChooser, int]:
        prepared, _ = prepared_step(model_3b, *FULL_HD, seed=seed)
        chooser = RecordingChooser(backend.stop_token_ids, min_new_tokens=NEW_TOKENS)
        decoded = engine.run(prepared.prompt, chooser, NEW_TOKENS)
        return decoded.token_ids, chooser, decoded.reused_prefix

    engine.reset()
    step(seed=1)  # the step before: same system prompt, tools and task, another screenshot
    reused_tokens, _, reused = step(seed=2)
    engine.reset()
    fresh_tokens, fresh, from_scratch = step(seed=2)
    assert reused > 0 and from_scratch == 0
    agreement = assert_greedy_agrees(reused_tokens, fresh_tokens, fresh.rows, "reused start")
    if not CUDA:
        assert agreement.identical
    print(f"{reused} prompt tokens reused: {agreement.same} of {agreement.total} tokens as a fresh prefill's")
    record_property("tokens_as_fresh_prefill", f"{agreement.same}/{agreement.total}")


def test_images_preprocessed_on_the_device_match_the_cpu(model_3b: BenchModel, record_property: Record) -> None:
    from prompts.messages import to_hf_messages

    backend = model_3b.backend
    width, height = FULL_HD
    messages, _ = step_messages(width, height, backend.image_budget.resized_size(width, height), 1, seed=4)
    on_device = backend.prepare(messages).inputs
    hf_messages, images = to_hf_messages(messages)
    text = backend.processor.apply_chat_template(hf_messages, add_generation_prompt=True, tokenize=False)
    on_cpu = backend.processor(text=[text], images=images, return_tensors="pt")
    assert on_device["input_ids"].cpu().tolist() == on_cpu["input_ids"].tolist()
    assert on_device["image_grid_thw"].cpu().tolist() == on_cpu["image_grid_thw"].tolist()
    difference = (on_device["pixel_values"].float().cpu() - on_cpu["pixel_values"].float()).abs()
    print(f"pixels resized on {backend.device} against the CPU: mean {float(difference.mean()):.2e}, "
          f"max {float(difference.max()):.2e} (normalised units; one 8-bit step is about 0.015)")
    record_property("preprocess_max_abs_diff", f"{float(difference.max()):.2e}")
    # bf16 pixels (the model's dtype) carry 3 significant digits; a resize off by a pixel would be far larger.
    assert float(difference.mean()) < 1e-2 and float(difference.max()) < 0.1


def test_peak_memory_of_a_7b_step_at_1080p(processor: Any, record_property: Record) -> None:
    """What a 7B step at 1920x1080 native holds at its peak: weights, KV cache, graphs, vision activations."""
    options = BenchOptions(archs=(arch("7b"),), new_tokens=NEW_TOKENS)
    memory = PeakMemory("cuda" if CUDA else "cpu")
    # What other tests still hold (the 3B model) is not this step's.
    baseline = torch.cuda.memory_allocated() / 2**20 if CUDA else 0.0
    bench = build_model(arch("7b"), options, processor)
    try:
        width, height = FULL_HD
        messages, space = step_messages(width, height, bench.backend.image_budget.resized_size(width, height), 1,
                                        seed=0)
        run = run_ours(bench, messages, space, options, memory)
        weights_mib = sum(p.numel() * p.element_size() for p in bench.model.parameters()) / 2**20
    finally:
        bench.backend.close()
    peak = run.peak_memory_mib - baseline
    print(f"{arch('7b')} at {width}x{height}: peak {memory.kind} {peak:,.0f} MiB "
          f"({weights_mib:,.0f} MiB of weights, {run.prompt_tokens} prompt tokens)")
    record_property("arch", arch("7b"))
    record_property("peak_memory_mib", f"{peak:.0f}")
    assert peak > weights_mib, "the peak cannot be below the weights it holds"
