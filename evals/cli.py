"""`eval` command line: the flags and the handler behind `python -m agent eval` (and `python -m evals`).

    python -m agent eval --suite miniwob --tasks click-button,book-flight --n-combinations 3 \
        --agent qwen --model Qwen/Qwen2.5-VL-7B-Instruct --workers 2 --out runs/eval-miniwob
    python -m agent eval --suite miniwob --agent qwen --base-url http://vllm:8000/v1 --executor ray \
        --ray-address auto --out /shared/runs/eval-miniwob

Exit codes: 0 every instance was recorded and none ended in error, 1 some did not, 2 bad usage, 3 a bug here.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from loguru import logger

from agent.cli_flags import (EXIT_FAILED, EXIT_SUCCESS, UsageError, add_flag, add_model_flags, browser_display,
                             fill_default_model, model_settings)
from agent.commands import Command
from environments.browser.settings import DISPLAY_MODES


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
    add_flag(g, "--browser-display", "browser: virtual (own Xvfb, the default where it runs), headless, window, auto",
             choices=DISPLAY_MODES)
    add_flag(g, "--headed", "browser: the same as --browser-display window", action="store_true")
    add_flag(g, "--browser-path", "browser: the Chromium executable")
    add_flag(g, "--serial", "android suite: the device serial")
    add_flag(g, "--adb-port", "phone/android suites: the adb server's port (default 5037)", type=int)
    add_flag(g, "--settle-delay", "seconds to wait after each action for the screen to follow", type=float)
    r = p.add_argument_group("executor")
    add_flag(r, "--executor", "threads: worker threads of this process (--workers); ray: one Ray task per instance on "
             "a cluster (see the README's 'Running a study on a cluster')", default="threads", choices=("threads", "ray"))
    add_flag(r, "--ray-address", "ray: the cluster to join ('auto' finds the one started on this machine with `ray "
             "start`, or HOST:PORT) [default: start a local one for this run]")
    add_flag(r, "--ray-cpus-per-instance", "ray: CPUs an instance's environment and agent loop take (default 1)",
             type=float)
    add_flag(r, "--ray-gpus-per-instance", "ray: GPUs for an instance's own model (default: 1 when agent qwen loads "
             "the model locally, 0 with --base-url, where the server holds it)", type=float)
    add_model_flags(p, "model (agent qwen)")


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
        if getattr(args, "adb_port", None):  # `replay` of an eval episode has no --adb-port
            out["adb_port"] = args.adb_port
    return out


def _ray_settings(args: argparse.Namespace) -> Any:
    from evals.plan import RaySettings

    if args.executor != "ray":
        return RaySettings()
    if args.workers != 1:
        logger.warning("--workers {} applies to --executor threads; on Ray the cluster's free resources decide how "
                       "many instances run at once (--ray-cpus-per-instance and --ray-gpus-per-instance)", args.workers)
    given = {"address": args.ray_address, "cpus_per_instance": args.ray_cpus_per_instance,
             "gpus_per_instance": args.ray_gpus_per_instance}
    return RaySettings(**{k: v for k, v in given.items() if v is not None})


def eval_command(args: argparse.Namespace) -> int:
    from evals.registry import SUITES, get_suite
    from evals.runner import EvalSettings, run_eval

    if args.list:
        if not args.suite:
            for name in SUITES:
                suite = get_suite(name)
                print(f"{name}: {len(suite.tasks)} tasks. {suite.description}")
            return EXIT_SUCCESS
        for t in get_suite(args.suite).select():
            print(f"{t.name}\t{t.difficulty}\tmax {t.max_steps} steps\toracle: {'yes' if t.has_oracle() else 'no'}")
        return EXIT_SUCCESS
    browser_display(args)  # refuse a bad combination before any task starts
    if not args.suite or not args.out:
        raise UsageError("give --suite NAME and --out DIR (add --list to see the suites)")
    get_suite(args.suite)  # an unknown name fails here, listing the known ones
    if args.agent == "qwen":
        fill_default_model(args)  # refuses with what to pass when there is no default either
    models = model_settings(args) if args.agent == "qwen" else None
    if models is not None:
        from agent.models.factory import check_model

        check_model(models)  # a missing model is refused now, before any task starts or torch is imported
    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip()) if args.tasks else None
    settings = EvalSettings(suite=args.suite, out=args.out, tasks=tasks, n_combinations=args.n_combinations,
                            seed=args.seed, agent=args.agent, workers=args.workers,
                            environment=environment_overrides(args), executor=args.executor, ray=_ray_settings(args))
    summary = run_eval(settings, model_settings=models)
    return EXIT_SUCCESS if summary.complete else EXIT_FAILED


def replay_eval_command(args: argparse.Namespace, header: dict[str, Any], texts: list[str],
                        finishes: list[str | None]) -> int:
    """`replay` of an eval's episode: its task is set up again from the recorded seed, and scored again."""
    from agent.recording import recorded_image_budget
    from evals.replay import replay_eval_episode

    args.suite = header["eval"]["suite"]
    result = replay_eval_episode(header, texts, finishes, recorded_image_budget(header), args.out,
                                 environment_overrides(args))
    score = "" if result.score is None else f" (score {result.score:g})"
    print(f"{result.task}, seed {result.seed}: {result.outcome}{score} after {result.steps} steps"
          f"{': ' + result.error if result.error else ''}; recording: {args.out / result.episode_dir}/report.html"
          if result.episode_dir else f"{result.task}, seed {result.seed}: {result.outcome}: {result.error}")
    return EXIT_SUCCESS if result.outcome == "success" else EXIT_FAILED


# Registered in pyproject.toml under [project.entry-points."agent.commands"].
EVAL_COMMAND = Command(name="eval", help="run an evaluation suite (AndroidWorld-style; rerun into --out to resume)",
                       add_arguments=add_eval_arguments, run=eval_command, runs_episodes=True,
                       replay=replay_eval_command)
