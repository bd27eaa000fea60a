"""Timing one agent step, both ways: plain `model.generate` and our backend, on the same model and prompt."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from actions.space import tool_call_text
from agent.bench.archs import BenchModel
from agent.bench.options import BenchOptions
from agent.models.base import ModelError

VARIANTS: tuple[str, ...] = ("generate", "ours")
TASK = "Open the settings, turn on Wi-Fi, then go back to the home screen."
# An earlier answer, shown with each history screenshot when --history-images > 1.
PAST_ANSWER = tool_call_text("computer_use", {"action": "left_click", "coordinate": [640, 360]})


@dataclass
class RunResult:
    """One timed step of one variant. Times in milliseconds."""

    preprocess_ms: float
    vision_ms: float
    prefill_ms: float  # vision encoder included: time to first token after preprocessing
    decode_ms: float
    step_ms: float
    new_tokens: int
    prompt_tokens: int
    peak_memory_mib: float
    reused_tokens: int = 0  # prompt tokens whose KV cache came from the step before
    forward_passes: int = 0  # model passes after prefill
    token_ids: list[int] = field(repr=False, default_factory=list)

    @property
    def decode_ms_per_token(self) -> float:
        # The first token comes out of prefill; decode makes the others.
        return self.decode_ms / max(self.new_tokens - 1, 1)


PHASES: tuple[tuple[str, str], ...] = (
    ("preprocess_ms", "preprocess (CPU) ms"),
    ("vision_ms", "vision encoder ms"),
    ("prefill_ms", "prefill (to 1st token) ms"),
    ("decode_ms_per_token", "decode ms/token"),
    ("step_ms", "step total ms"),
    ("peak_memory_mib", "peak memory MiB"),
    ("new_tokens", "new tokens"),
    ("forward_passes", "passes after prefill"),
    ("reused_tokens", "prompt tokens reused"),
)
# Counts, not costs: shown without a ratio.
COUNTS = ("new_tokens", "forward_passes", "reused_tokens")


def summarize(runs: list[RunResult]) -> dict[str, float]:
    """Median of each phase over the timed runs; peak memory is the largest seen."""
    summary = {key: statistics.median(getattr(r, key) for r in runs) for key, _ in PHASES}
    summary["peak_memory_mib"] = max(r.peak_memory_mib for r in runs)
    return summary





class PeakMemory:
    """Peak memory of one run: allocated CUDA memory on a GPU, resident set size of this process on the CPU."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")
        self.kind = "cuda_max_memory_allocated" if self.cuda else "process_peak_rss"

    def reset(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats()
            return
        # Linux resets VmHWM (the peak RSS) when "5" is written here; elsewhere the peak is the process's so far.
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass

    def read_mib(self) -> float:
        if self.cuda:
            import torch

            return torch.cuda.max_memory_allocated() / 2**20
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024



def noise_screenshot(width: int, height: int, seed: int) -> Any:
    """Random RGB noise: the worst case for nothing, the same pixel count as a real screen (all that matters)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8), mode="RGB")


def step_messages(
    width: int, height: int, image_size: tuple[int, int], history_images: int, seed: int
) -> tuple[list[Any], Any]:
    """The agent's real prompt for one step on a `width`x`height` screen, and its action space."""
    from actions.space import COMPUTER, MOBILE
    from prompts.qwen import PastStep, PromptInputs, build_messages

    space = MOBILE if height > width else COMPUTER
    history = [
        PastStep(
            progress=f"clicked item {i}", screenshot=noise_screenshot(width, height, seed + 1 + i), answer=PAST_ANSWER
        )
        for i in range(history_images - 1)
    ]
    inputs = PromptInputs(space=space, task=TASK, screenshot=noise_screenshot(width, height, seed),
                          image_size=image_size, history=history, history_images=history_images)
    return build_messages(inputs), space


def run_generate(bench: BenchModel, messages: list[Any], options: BenchOptions, memory: PeakMemory) -> RunResult:
    """The cookbook path: template, processor, `.to(device)`, `model.generate` with greedy decoding."""
    import torch
    from transformers import LogitsProcessorList

    from agent.models.stage_clock import StageClock
    from prompts.messages import to_hf_messages

    backend = bench.backend
    sync = backend._synchronize
    memory.reset()
    sync()
    started = time.perf_counter()
    hf_messages, images = to_hf_messages(messages)
    text = bench.processor.apply_chat_template(hf_messages, add_generation_prompt=True, tokenize=False)
    inputs = bench.processor(text=[text], images=images or None, padding=True, return_tensors="pt").to(backend.device)
    sync()
    preprocessed = time.perf_counter()
    clock = StageClock(sync)
    visual = backend.visual
    hook = visual.register_forward_hook(clock.vision_done)
    try:
        with torch.inference_mode():
            output = bench.model.generate(
                **inputs,
                max_new_tokens=options.new_tokens,
                min_new_tokens=options.new_tokens,
                do_sample=False,
                logits_processor=LogitsProcessorList([clock]),
            )
        sync()
    except torch.cuda.OutOfMemoryError as exc:
        raise ModelError(f"out of GPU memory in plain generate ({exc}); lower --max-pixels") from None
    finally:
        hook.remove()
    finished = time.perf_counter()
    prompt_tokens = int(inputs["input_ids"].shape[1])
    new_ids = output[0, prompt_tokens:].tolist()
    first = clock.first_logits or finished
    return RunResult(
        preprocess_ms=(preprocessed - started) * 1e3,
        vision_ms=((clock.vision_end or preprocessed) - preprocessed) * 1e3,
        prefill_ms=(first - preprocessed) * 1e3,
        decode_ms=(finished - first) * 1e3,
        step_ms=(finished - started) * 1e3,
        new_tokens=len(new_ids),
        prompt_tokens=prompt_tokens,
        peak_memory_mib=memory.read_mib(),
        forward_passes=max(len(new_ids) - 1, 0),  # generate runs one pass per token after the first
        token_ids=new_ids,
    )


def run_ours(
    bench: BenchModel, messages: list[Any], space: Any, options: BenchOptions, memory: PeakMemory
) -> RunResult:
    """The agent's path: TransformersBackend.prepare, then .run under the step's grammar (when constrained)."""
    backend = bench.backend
    memory.reset()
    backend._synchronize()
    started = time.perf_counter()
    prepared = backend.prepare(messages)
    grammar = None
    if options.constrained:
        width, height = prepared.image_sizes[-1]
        grammar = backend.grammars.compiled(space, width, height, None)
    forced = 0 if options.constrained else options.new_tokens
    new_ids, timings = backend.run(prepared, grammar, max_new_tokens=options.new_tokens, min_new_tokens=forced)
    finished = time.perf_counter()
    return RunResult(
        preprocess_ms=timings.preprocess_s * 1e3,
        vision_ms=timings.vision_s * 1e3,
        prefill_ms=timings.prefill_s * 1e3,
        decode_ms=timings.decode_s * 1e3,
        step_ms=(finished - started) * 1e3,
        new_tokens=len(new_ids),
        prompt_tokens=prepared.prompt_tokens,
        peak_memory_mib=memory.read_mib(),
        reused_tokens=timings.reused_tokens,
        forward_passes=timings.forward_passes,
        token_ids=new_ids,
    )


def reference_tokens(bench: BenchModel, messages: list[Any], options: BenchOptions) -> list[int]:
    """Plain `generate`'s greedy tokens on exactly our prepared inputs (a GPU may resize images a hair
    differently from the CPU, so the timed cookbook run's inputs are not the same inputs)."""
    prepared = bench.backend.prepare(messages)
    output = bench.backend.generate_output(prepared, None, options.new_tokens, options.new_tokens)
    return output[0, prepared.prompt_tokens:].tolist()


@dataclass
class ScreenResult:
    arch: str
    screen: tuple[int, int]
    model_image: tuple[int, int]
    image_tokens: int
    prompt_tokens: int
    summary: dict[str, dict[str, float]]
    runs: dict[str, list[RunResult]]
    # Unconstrained only: ours gave the same token ids as `generate` on the same prepared inputs.
    greedy_identical: bool | None

    @property
    def ratio(self) -> dict[str, float | None]:
        """generate / ours per phase: above 1, ours is faster (or smaller)."""
        generate, ours = self.summary["generate"], self.summary["ours"]
        return {key: (generate[key] / ours[key] if ours[key] else None) for key, _ in PHASES if key not in COUNTS}


def bench_screen(bench: BenchModel, width: int, height: int, options: BenchOptions, memory: PeakMemory) -> ScreenResult:
    image_size = bench.backend.image_budget.resized_size(width, height)
    messages, space = step_messages(width, height, image_size, options.history_images, options.seed)
    variants: dict[str, Callable[[], RunResult]] = {
        "generate": lambda: run_generate(bench, messages, options, memory),
        "ours": lambda: run_ours(bench, messages, space, options, memory),
    }
    for _ in range(options.warmup):
        for run in variants.values():
            run()
    runs: dict[str, list[RunResult]] = {name: [] for name in variants}
    # Alternating the variants spreads any drift (clocks, thermals, allocator state) over both.
    for _ in range(options.repeats):
        for name, run in variants.items():
            runs[name].append(run())
    merge = bench.backend.processor.image_processor.merge_size
    token_side = bench.backend._patch_size * merge  # one image token covers token_side x token_side pixels
    image_tokens = (image_size[0] // token_side) * (image_size[1] // token_side)
    identical = None
    if not options.constrained:
        reference = reference_tokens(bench, messages, options)
        identical = reference == runs["ours"][0].token_ids
        if not identical:
            logger.warning("greedy output differs between generate and ours on {}x{} ({} vs {})", width, height,
                           reference, runs["ours"][0].token_ids)
    return ScreenResult(
        arch=bench.arch,
        screen=(width, height),
        model_image=image_size,
        image_tokens=image_tokens * options.history_images,
        prompt_tokens=runs["ours"][0].prompt_tokens,
        summary={name: summarize(r) for name, r in runs.items()},
        runs=runs,
        greedy_identical=identical,
    )


