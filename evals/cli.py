"""`eval` command line: the flags and the handler behind `python -m agent eval` (and `python -m evals`).

    python -m agent eval --suite miniwob --tasks click-button,book-flight --n-combinations 3 \
        --agent qwen --model Qwen/Qwen2.5-VL-7B-Instruct --workers 2 --out runs/eval-miniwob

Exit codes: 0 every instance was recorded and none ended in error, 1 some did not, 2 bad usage, 3 a bug here.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agent.cli_flags import GRAMMAR_FIELDS, UsageError, browser_display
from environments.browser_settings import DISPLAY_MODES


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", help="suite to run: miniwob, miniwob-mobile, phone, android (see --list)")
    p.add_argument("--tasks", help="comma-separated task names (default: the whole suite)")
    p.add_argument("--n-combinations", type=int, default=1, help="instances (parameter draws) per task")
    p.add_argument("--seed", type=int, default=0, help="base seed; each instance's seed derives from it")
    p.add_argument("--agent", choices=("qwen", "oracle", "noop"), default="qwen",
                   help="qwen: the model; oracle: scripted reference policy; noop: stops at once")
    p.add_argument("--workers", type=int, default=1, help="parallel workers, each with its own environment")
    p.add_argument("--out", type=Path, help="results folder; rerun into it to resume")
    p.add_argument("--list", action="store_true", help="list suites, or the tasks of --suite, and exit")
    g = p.add_argument_group("environment")
    g.add_argument("--browser-display", choices=DISPLAY_MODES,
                   help="browser: virtual (own Xvfb, the default where it runs), headless, window, auto")
    g.add_argument("--headed", action="store_true", help="browser: the same as --browser-display window")
    g.add_argument("--browser-path", help="browser: the Chromium executable")
    g.add_argument("--serial", help="android suite: the device serial")
    g.add_argument("--adb-port", type=int, help="phone/android suites: the adb server's port (default 5037)")
    g.add_argument("--settle-delay", type=float, help="seconds to wait after each action for the screen to follow")
    g = p.add_argument_group("model (agent qwen)")
    g.add_argument("--model", help="local checkpoint folder or Hugging Face id (from the local cache)")
    g.add_argument("--base-url", help="an OpenAI-compatible server (vLLM, SGLang) instead of a local model")
    g.add_argument("--api-key")
    g.add_argument("--grammar-field", choices=GRAMMAR_FIELDS,
                   help="--base-url: where the server reads the tool-call grammar (vLLM >= 0.12, older vLLM, SGLang)")
    g.add_argument("--device", help="torch device (auto, cpu, cuda)")
    g.add_argument("--min-pixels", type=int)
    g.add_argument("--max-pixels", type=int)
    g.add_argument("--max-new-tokens", type=int)
    g.add_argument("--temperature", type=float)
    g.add_argument("--engine", choices=("fast", "generate"), help="local decoding: ours (fast) or transformers' generate")


def environment_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Driver settings from the flags, for the suite's environment kind only."""
    from evals.registry import get_suite

    kinds = {t.environment for t in get_suite(args.suite).tasks.values()}
    out: dict[str, Any] = {} if args.settle_delay is None else {"settle_delay": args.settle_delay}
    if "browser" in kinds:
        if mode := browser_display(args):
            out["display"] = mode
        if args.browser_path:
            out["executable_path"] = args.browser_path
    if "android" in kinds:
        if args.serial:
            out["serial"] = args.serial
        if args.adb_port:
            out["adb_port"] = args.adb_port
    return out


def model_settings(args: argparse.Namespace) -> Any:
    from agent.models.settings import ModelSettings

    fields = dict(model=args.model, base_url=args.base_url, api_key=args.api_key, device=args.device,
                  min_pixels=args.min_pixels, max_pixels=args.max_pixels, max_new_tokens=args.max_new_tokens,
                  temperature=args.temperature, engine=args.engine, grammar_field=args.grammar_field)
    return ModelSettings(**{k: v for k, v in fields.items() if v is not None})


def eval_command(args: argparse.Namespace) -> int:
    from evals.registry import SUITES, get_suite
    from evals.runner import EvalSettings, run_eval

    if args.list:
        if not args.suite:
            for name in SUITES:
                suite = get_suite(name)
                print(f"{name}: {len(suite.tasks)} tasks. {suite.description}")
            return 0
        for t in get_suite(args.suite).select():
            print(f"{t.name}\t{t.difficulty}\tmax {t.max_steps} steps\toracle: {'yes' if t.has_oracle() else 'no'}")
        return 0
    if not args.suite or not args.out:
        raise UsageError("give --suite NAME and --out DIR (add --list to see the suites)")
    get_suite(args.suite)  # an unknown name fails here, listing the known ones
    if args.agent == "qwen" and not (args.model or args.base_url):
        raise UsageError("agent qwen needs --model PATH_OR_ID or --base-url; or try --agent oracle / noop")
    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip()) if args.tasks else None
    settings = EvalSettings(suite=args.suite, out=args.out, tasks=tasks, n_combinations=args.n_combinations,
                            seed=args.seed, agent=args.agent, workers=args.workers,
                            environment=environment_overrides(args))
    summary = run_eval(settings, model_settings=model_settings(args) if args.agent == "qwen" else None)
    return 0 if summary.complete else 1
