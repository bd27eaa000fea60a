"""`python -m agent bench`: how long one agent step takes, plain `model.generate` against our backend.

Both variants run in one process on the same model, the same synthetic screenshots and the same real prompt
(prompts.qwen.build_messages), so their ratio is meaningful on any machine:

* `generate`: what the Qwen cookbooks do: chat template and processor, then `model.generate(**inputs)`;
* `ours`: TransformersBackend.prepare/run, the path the agent takes: images resized on the model's device,
  our engine (agent/models/engine.py) instead of `generate`. Unconstrained by default so both variants
  produce the same number of tokens; --constrained puts the tool-call grammar (and its drafts) on. Like the
  agent from its second step on, it reuses the KV cache of the prompt's unchanged start (system prompt,
  tools, task) from the run before; the warm-up run pays for the first prefill and any CUDA graph capture.

The models are random-weight Qwen2.5-VL architectures with the released checkpoints' shapes, built directly on
the target device: step time does not depend on weight values once the number of new tokens is fixed, which
is why end-of-turn is suppressed until --new-tokens tokens exist. The tokenizer and processor come from a
checkpoint directory (--processor); by default the project's tiny one, whose small BPE vocabulary spends
somewhat more tokens on the prompt text than Qwen's own tokenizer would (the table shows the count).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from agent.models.base import ModelError

DEFAULT_SCREENS: tuple[tuple[int, int], ...] = ((1920, 1080), (2560, 1440), (1080, 2400))
VARIANTS: tuple[str, ...] = ("generate", "ours")
TASK = "Open the settings, turn on Wi-Fi, then go back to the home screen."
# An earlier answer, shown with each history screenshot when --history-images > 1.
PAST_ANSWER = (
    '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [640, 360]}}'
    "\n</tool_call>"
)


@dataclass(frozen=True)
class ArchSpec:
    """The shape of one Qwen2.5-VL checkpoint, as its published config.json gives it."""

    name: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    tie_word_embeddings: bool
    mrope_section: tuple[int, int, int]
    vision: dict[str, Any]
    gpu_only: bool = True


# The vision tower is the same in 3B and 7B (about 670M parameters): 32 blocks, windowed attention in all but
# four, a 2x2 patch merger whose output width is the language model's hidden size.
_VISION = {
    "depth": 32,
    "hidden_size": 1280,
    "intermediate_size": 3420,
    "num_heads": 16,
    "hidden_act": "silu",
    "fullatt_block_indexes": [7, 15, 23, 31],
    "window_size": 112,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "tokens_per_second": 2,
    "in_channels": 3,
}

ARCHS: dict[str, ArchSpec] = {
    # Qwen/Qwen2.5-VL-3B-Instruct: 36 layers, 16 query heads over 2 key/value heads (head_dim 128), tied embeddings.
    "3b": ArchSpec(
        name="3b",
        vocab_size=151936,
        hidden_size=2048,
        intermediate_size=11008,
        num_hidden_layers=36,
        num_attention_heads=16,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        mrope_section=(16, 24, 24),
        vision={**_VISION, "out_hidden_size": 2048},
    ),
    # Qwen/Qwen2.5-VL-7B-Instruct: 28 layers, 28 query heads over 4 key/value heads (head_dim 128).
    "7b": ArchSpec(
        name="7b",
        vocab_size=152064,
        hidden_size=3584,
        intermediate_size=18944,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
        tie_word_embeddings=False,
        mrope_section=(16, 24, 24),
        vision={**_VISION, "out_hidden_size": 3584},
    ),
    # The shape of agent.models.tiny's checkpoint: runs in milliseconds on a CPU, so CI exercises the harness.
    "tiny": ArchSpec(
        name="tiny",
        vocab_size=0,  # the tokenizer's length rounded up to 64, like the released embedding tables
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=False,
        mrope_section=(2, 3, 3),
        vision={
            **_VISION,
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "fullatt_block_indexes": [1],
            "out_hidden_size": 64,
        },
        gpu_only=False,
    ),
}


@dataclass(frozen=True)
class BenchOptions:
    archs: tuple[str, ...] = ("tiny",)
    screens: tuple[tuple[int, int], ...] = DEFAULT_SCREENS
    max_pixels: int | None = None  # None: the checkpoint's (native resolution up to 12.8 MP)
    new_tokens: int = 40
    repeats: int = 3
    warmup: int = 1
    history_images: int = 1
    constrained: bool = False
    device: str = "auto"
    dtype: str = "auto"
    attn_implementation: str | None = None
    processor: str | None = None  # checkpoint directory or id for tokenizer and processor; None: the tiny one
    seed: int = 0
    threads: int | None = None  # torch's intra-op CPU threads; None: torch's default (one per core)


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


# --- measuring -------------------------------------------------------------------------------------------


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


@dataclass
class BenchModel:
    """One random-weight architecture on its device, with the backend wrapped around it."""

    arch: str
    backend: Any  # TransformersBackend
    parameters: int
    build_s: float

    @property
    def model(self) -> Any:
        return self.backend.model

    @property
    def processor(self) -> Any:
        return self.backend.processor


def tiny_processor_dir() -> Path:
    """The tiny checkpoint's folder in the temp directory, written once; its tokenizer and processor are used."""
    from agent.models.tiny import make_tiny_model

    directory = Path(tempfile.gettempdir()) / "agent-bench-tiny-qwen2.5-vl"
    if not (directory / "model.safetensors").exists():
        make_tiny_model(directory)
    return directory


def load_processor(source: str | None) -> Any:
    from transformers import AutoProcessor

    from agent.models.loading import resolve_checkpoint

    directory = resolve_checkpoint(source) if source else tiny_processor_dir()
    try:
        return AutoProcessor.from_pretrained(directory)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(
            f"no processor loads from {directory} ({exc}); pass --processor a Qwen2.5-VL checkpoint"
        ) from None


def build_config(spec: ArchSpec, tokenizer: Any) -> Any:
    """The architecture's config with the special-token ids of `tokenizer`, so its prompts line up."""
    from transformers import Qwen2_5_VLConfig

    vocab = tokenizer.get_vocab()
    names = ("<|endoftext|>", "<|im_end|>", "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    missing = [t for t in names if t not in vocab]
    ids = {t: vocab.get(t, -1) for t in names}
    if missing:
        raise ModelError(
            f"the tokenizer lacks Qwen's tokens {', '.join(missing)}; pass --processor a Qwen2.5-VL checkpoint"
        )
    # The embedding must cover the tokenizer; the released tables are padded to a multiple of 64.
    vocab_size = max(spec.vocab_size, -(-len(tokenizer) // 64) * 64)
    return Qwen2_5_VLConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": spec.hidden_size,
            "intermediate_size": spec.intermediate_size,
            "num_hidden_layers": spec.num_hidden_layers,
            "num_attention_heads": spec.num_attention_heads,
            "num_key_value_heads": spec.num_key_value_heads,
            "hidden_act": "silu",
            "max_position_embeddings": 128000,
            "max_window_layers": 70,
            "rms_norm_eps": 1e-6,
            "use_sliding_window": False,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1000000.0,
                "mrope_section": list(spec.mrope_section),
            },
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            "tie_word_embeddings": spec.tie_word_embeddings,
        },
        vision_config=dict(spec.vision),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=spec.tie_word_embeddings,
    )


def build_model(arch: str, options: BenchOptions, processor: Any) -> BenchModel:
    """Random weights in `arch`'s shape, created directly on the device in the target dtype (seconds, even for 7B)."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    from agent.models.settings import ModelSettings
    from agent.models.transformers_backend import TransformersBackend, pick_attention, pick_device, pick_dtype

    spec = ARCHS[arch]
    device = pick_device(options.device)
    if spec.gpu_only and not device.startswith("cuda"):
        raise ModelError(f"the {arch} architecture is meant for a GPU and none is in use (device {device}); "
                         "run it where torch.cuda.is_available(), or use --arch tiny on the CPU")
    dtype = pick_dtype(options.dtype, device)
    attention = pick_attention(options.attn_implementation, device, dtype)
    config = build_config(spec, processor.tokenizer)
    started = time.perf_counter()
    torch.manual_seed(options.seed)
    try:
        # Allocating on the device skips a CPU copy of ~16 GB for 7B; _from_config initialises in `dtype`.
        with torch.device(device):
            model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=dtype, attn_implementation=attention)
    except torch.cuda.OutOfMemoryError:
        raise ModelError(f"the {arch} architecture does not fit on {device} in {dtype}; use a larger GPU") from None
    stop_ids = [config.text_config.eos_token_id, config.text_config.pad_token_id]
    # Neutral decoding settings, not the released sampling ones (top_k=1, repetition_penalty=1.05): `generate`
    # is the cookbooks' call with do_sample=False, and its greedy answer is what `ours` must reproduce.
    model.generation_config = GenerationConfig(
        bos_token_id=config.text_config.bos_token_id, eos_token_id=stop_ids, pad_token_id=stop_ids[1]
    )
    settings = ModelSettings(
        model=f"random-{arch}",
        device=device,
        max_pixels=options.max_pixels,
        max_new_tokens=options.new_tokens,
        constrained=options.constrained,
        attn_implementation=attention,
    )
    backend = TransformersBackend.from_model(settings, model, processor, name=f"random-{arch}")
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    built = time.perf_counter() - started
    parameters = sum(p.numel() for p in model.parameters())
    logger.info("built random {} ({:.2f}B parameters, {}, {} attention) on {} in {:.1f} s", arch,
                parameters / 1e9, str(dtype).removeprefix("torch."), attention, device, built)
    return BenchModel(arch=arch, backend=backend, parameters=parameters, build_s=built)


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

    from agent.models.transformers_backend import StageClock, to_hf_messages

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
    import torch

    prepared = bench.backend.prepare(messages)
    with torch.inference_mode():
        output = bench.model.generate(**prepared.inputs, max_new_tokens=options.new_tokens,
                                      min_new_tokens=options.new_tokens, do_sample=False)
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


def environment(options: BenchOptions) -> dict[str, Any]:
    import torch
    import transformers

    from agent.models.transformers_backend import pick_attention, pick_device, pick_dtype

    device = pick_device(options.device)
    dtype = pick_dtype(options.dtype, device)
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(device))
    else:
        name = _cpu_name()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda": torch.version.cuda,
        "device": device,
        "device_name": name,
        "dtype": str(dtype).removeprefix("torch."),
        "attention": pick_attention(options.attn_implementation, device, dtype),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


@dataclass
class BenchReport:
    environment: dict[str, Any]
    options: BenchOptions
    models: list[dict[str, Any]]
    results: list[ScreenResult]

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "options": asdict(self.options),
            "memory": PeakMemory(self.environment["device"]).kind,
            "models": self.models,
            "results": [
                {
                    "arch": r.arch,
                    "screen": list(r.screen),
                    "model_image": list(r.model_image),
                    "image_tokens": r.image_tokens,
                    "prompt_tokens": r.prompt_tokens,
                    "greedy_identical": r.greedy_identical,
                    "variants": {
                        name: {
                            "median": r.summary[name],
                            "runs": [
                                {**{k: v for k, v in asdict(run).items() if k != "token_ids"},
                                 "decode_ms_per_token": run.decode_ms_per_token}
                                for run in r.runs[name]
                            ],
                            "token_ids": r.runs[name][0].token_ids,
                        }
                        for name in VARIANTS
                    },
                    "ratio_generate_over_ours": r.ratio,
                }
                for r in self.results
            ],
        }


def run_bench(options: BenchOptions) -> BenchReport:
    import gc

    import torch

    unknown = [a for a in options.archs if a not in ARCHS]
    if unknown:
        raise ModelError(f"unknown architecture {', '.join(unknown)}; choose from {', '.join(ARCHS)}")
    if options.threads is not None:
        # On a small, shared CPU, torch's default of one thread per core can stall in OpenMP barriers whenever
        # another process holds a core (measured: 30x slower tiny steps on 2 busy cores); one thread does not.
        torch.set_num_threads(options.threads)
    env = environment(options)
    memory = PeakMemory(env["device"])
    processor = load_processor(options.processor)
    models: list[dict[str, Any]] = []
    results: list[ScreenResult] = []
    for arch in options.archs:
        bench = build_model(arch, options, processor)
        models.append({"arch": arch, "parameters": bench.parameters, "build_s": bench.build_s})
        for width, height in options.screens:
            logger.info("{} on {}x{}: {} warmup + {} timed runs per variant", arch, width, height, options.warmup,
                        options.repeats)
            results.append(bench_screen(bench, width, height, options, memory))
        # Free one architecture before building the next: 3B and 7B together would not fit a 24 GB card.
        bench.backend.close()
        del bench
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return BenchReport(environment=env, options=options, models=models, results=results)


# --- output ------------------------------------------------------------------------------------------------


def _fmt(key: str, value: float) -> str:
    if key in COUNTS:
        return f"{value:.0f}"
    if key == "peak_memory_mib":
        return f"{value:,.0f}"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def render_table(report: BenchReport) -> Any:
    from rich.table import Table

    env = report.environment
    opts = report.options
    memory = "GPU allocated" if env["device"].startswith("cuda") else "process RSS"
    table = Table(
        title=f"One agent step: {opts.new_tokens} new tokens, {env['dtype']}, {env['attention']} "
        f"on {env['device_name']} "
        f"(median of {opts.repeats}; peak memory = {memory})",
        caption="generate = plain model.generate (cookbook); ours = TransformersBackend.prepare/run "
        "(prompt start reused from the step before, as within an episode); "
        "ratio = generate / ours (above 1: ours faster)"
        + ("; ours is constrained, so it stops when its tool call closes: compare decode ms/token"
           if opts.constrained else ""),
    )
    table.add_column("arch")
    table.add_column("screen → model image (tokens)")
    table.add_column("phase")
    table.add_column("generate", justify="right")
    table.add_column("ours", justify="right")
    table.add_column("ratio", justify="right")
    for result in report.results:
        screen = (f"{result.screen[0]}x{result.screen[1]} → {result.model_image[0]}x{result.model_image[1]} "
                  f"({result.prompt_tokens} prompt, {result.image_tokens} image)")
        ratio = result.ratio
        for i, (key, label) in enumerate(PHASES):
            generate, ours = result.summary["generate"][key], result.summary["ours"][key]
            r = ratio.get(key)
            table.add_row(
                result.arch if i == 0 else "",
                screen if i == 0 else "",
                label,
                _fmt(key, generate),
                _fmt(key, ours),
                f"{r:.2f}x" if r is not None else "",
            )
        if result.greedy_identical is not None:
            table.add_row("", "", "greedy tokens identical", "", "yes" if result.greedy_identical else "NO", "")
        table.add_section()
    return table


def parse_screens(text: str) -> tuple[tuple[int, int], ...]:
    screens = []
    for item in text.split(","):
        try:
            width, height = (int(v) for v in item.strip().lower().split("x"))
        except ValueError:
            raise ValueError(
                f"--screens: expected WIDTHxHEIGHT[,WIDTHxHEIGHT...] like 1920x1080, got {item!r}"
            ) from None
        if width < 28 or height < 28:
            raise ValueError(f"--screens: {item} is smaller than one 28-pixel patch; use at least 28x28")
        screens.append((width, height))
    return tuple(screens)


def parse_archs(text: str, device: str) -> tuple[str, ...]:
    if text == "auto":
        from agent.models.transformers_backend import pick_device

        return ("3b", "7b") if pick_device(device).startswith("cuda") else ("tiny",)
    archs = tuple(a.strip().lower() for a in text.split(",") if a.strip())
    unknown = [a for a in archs if a not in ARCHS]
    if unknown or not archs:
        raise ValueError(f"--arch: unknown {', '.join(unknown) or 'empty'}; choose from {', '.join(ARCHS)}, "
                         "comma-separated")
    return archs


def bench_command(args: Any) -> int:
    """Entry point of `python -m agent bench` (flags parsed by agent.cli)."""
    from rich.console import Console

    for name in ("new_tokens", "repeats", "history_images"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    if args.warmup < 0:
        raise ValueError(f"--warmup must be 0 or more, got {args.warmup}")
    if args.max_pixels is not None and args.max_pixels < 28 * 28:
        raise ValueError(f"--max-pixels {args.max_pixels} is below one 28x28 patch; use at least 784")
    options = BenchOptions(
        archs=parse_archs(args.arch, args.device),
        screens=parse_screens(args.screens),
        max_pixels=args.max_pixels,
        new_tokens=args.new_tokens,
        repeats=args.repeats,
        warmup=args.warmup,
        history_images=args.history_images,
        constrained=args.constrained,
        device=args.device,
        dtype=args.dtype,
        attn_implementation=args.attn,
        processor=args.processor,
        seed=args.seed,
        threads=args.threads,
    )
    report = run_bench(options)
    Console().print(render_table(report))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    print(f"wrote {out}")
    return 0


__all__ = [
    "ARCHS",
    "ArchSpec",
    "BenchOptions",
    "BenchReport",
    "RunResult",
    "bench_command",
    "build_config",
    "build_model",
    "render_table",
    "run_bench",
    "run_generate",
    "run_ours",
    "step_messages",
]
