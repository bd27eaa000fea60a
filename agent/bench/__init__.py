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
from pathlib import Path
from typing import Any

from loguru import logger

from agent.bench.archs import ARCHS, ArchSpec, build_config, build_model, load_processor
from agent.bench.options import BenchOptions
from agent.bench.report import BenchReport, environment, render_table
from agent.bench.steps import (
    PHASES,
    PeakMemory,
    RunResult,
    ScreenResult,
    bench_screen,
    run_generate,
    run_ours,
    step_messages,
)
from agent.cli_flags import UsageError
from agent.models.base import ModelError


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



# The largest side a screenshot can have (8K is 7680): beyond it the bench would only fail allocating memory.
MAX_SIDE = 16384


def parse_screens(text: str) -> tuple[tuple[int, int], ...]:
    screens = []
    for item in text.split(","):
        try:
            width, height = (int(v) for v in item.strip().lower().split("x"))
        except ValueError:
            raise UsageError(
                f"--screens: expected WIDTHxHEIGHT[,WIDTHxHEIGHT...] like 1920x1080, got {item!r}"
            ) from None
        if width < 28 or height < 28:
            raise UsageError(f"--screens: {item} is smaller than one 28-pixel patch; use at least 28x28")
        if width > MAX_SIDE or height > MAX_SIDE:
            raise UsageError(f"--screens: {item.strip()} is larger than any screen; use at most {MAX_SIDE} per side")
        screens.append((width, height))
    return tuple(screens)


def parse_archs(text: str, device: str) -> tuple[str, ...]:
    if text == "auto":
        from agent.models.devices import pick_device

        return ("3b", "7b") if pick_device(device).startswith("cuda") else ("tiny",)
    archs = tuple(a.strip().lower() for a in text.split(",") if a.strip())
    unknown = [a for a in archs if a not in ARCHS]
    if unknown or not archs:
        raise UsageError(f"--arch: unknown {', '.join(unknown) or 'empty'}; choose from {', '.join(ARCHS)}, "
                         "comma-separated")
    return archs


def drafts_table(processor: str | None) -> Any:
    """Tokens and passes per sample action with the processor's tokenizer (see agent.bench.drafts)."""
    from rich.table import Table

    from agent.bench.drafts import count_sample_passes

    tokenizer = load_processor(processor).tokenizer
    stop = [tokenizer.convert_tokens_to_ids("<|im_end|>")]
    table = Table(title=f"Grammar drafts: passes per action ({len(tokenizer):,}-token tokenizer, canonical tokens)",
                  caption="generate makes one pass per token after the first")
    for column in ("space", "action", "tokens", "passes after prefill", "generate's passes"):
        table.add_column(column, justify="left" if column in ("space", "action") else "right")
    for count in count_sample_passes(tokenizer, len(tokenizer), stop):
        table.add_row(count.space, count.action, str(count.tokens), str(count.passes), str(count.tokens - 1))
    return table


def bench_command(args: Any) -> int:
    """Entry point of `python -m agent bench` (flags parsed by agent.cli)."""
    from rich.console import Console

    if args.drafts:
        Console().print(drafts_table(args.processor))
        return 0
    for name in ("new_tokens", "repeats", "history_images"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {args.threads}")
    if args.warmup < 0:
        raise UsageError(f"--warmup must be 0 or more, got {args.warmup}")
    if args.max_pixels is not None and args.max_pixels < 28 * 28:
        raise UsageError(f"--max-pixels {args.max_pixels} is below one 28x28 patch; use at least 784")
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
    "PHASES",
    "ArchSpec",
    "BenchOptions",
    "BenchReport",
    "PeakMemory",
    "RunResult",
    "ScreenResult",
    "bench_command",
    "bench_screen",
    "build_config",
    "build_model",
    "drafts_table",
    "environment",
    "load_processor",
    "render_table",
    "run_bench",
    "run_generate",
    "run_ours",
    "step_messages",
]
