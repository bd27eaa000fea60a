"""`python -m agent ...`: run a task, replay or report an episode, check the machine, make a tiny model.

Every flag can also be set by an environment variable named AGENT_<FLAG> (AGENT_MODEL, AGENT_ENV, ...).
Exit codes: 0 the task reported success, 1 it failed or was stopped, 2 a usage or setup error.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

if TYPE_CHECKING:
    from pydantic import ValidationError

EXIT_SUCCESS, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_OUT = "runs"
# Settings a replay takes from the recording unless a flag (or its variable) gives them: those that decide
# what the model was shown and how many answers the loop asks for, so the recorded answers fit again.
REPLAYED_ENVIRONMENT = ("start_url", "viewport", "device_scale_factor", "monitor", "settle_delay")
REPLAYED_CONFIG = ("max_steps", "history_images", "retries_on_bad_answer", "stuck_after", "extra_instructions")
# Settings fields whose flag is not simply the field's name with dashes.
FLAG_OF_FIELD = {"viewport_width": "viewport", "viewport_height": "viewport", "executable_path": "browser_path",
                 "headless": "headed", "allow_thought": "think"}
# Commands that run episodes: SIGTERM ends them as Ctrl-C does, so each episode records how it ended.
EPISODE_COMMANDS = ("run", "replay", "eval")


class UsageError(Exception):
    """Bad flags or a missing setup step; printed as one line, exit code 2."""


def _env(flag: str, default: Any = None) -> Any:
    return os.environ.get("AGENT_" + flag.upper().replace("-", "_"), default)


def _add(p: argparse.ArgumentParser, flag: str, help: str, default: Any = None, **kw: Any) -> None:
    env_default = _env(flag.lstrip("-"), default)
    if kw.get("action") == "store_true":
        env_default = str(env_default).lower() in ("1", "true", "yes") if env_default is not None else False
    p.add_argument(flag, default=env_default, help=f"{help} [env AGENT_{flag.lstrip('-').upper().replace('-', '_')}]",
                   **kw)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT like 1280x800, got {text!r}") from None
    return w, h


def _env_flags(p: argparse.ArgumentParser, env_default: str | None = "browser") -> None:
    g = p.add_argument_group("environment")
    _add(g, "--env", "where to act: browser, desktop or android", default=env_default)
    _add(g, "--start-url", "browser: the page to open first")
    _add(g, "--viewport", "browser: viewport size in CSS pixels, WIDTHxHEIGHT", type=_size)
    _add(g, "--device-scale-factor", "browser: device pixels per CSS pixel (2 for HiDPI)", type=float)
    _add(g, "--headed", "browser: show the window instead of running headless", action="store_true")
    _add(g, "--browser-path", "browser: the Chromium executable to drive")
    _add(g, "--monitor", "desktop: which monitor to capture and act on (1 = the first)", type=int)
    _add(g, "--serial", "android: the device serial, when several are attached")
    _add(g, "--settle-delay", "seconds to wait after each action for the screen to follow (default: browser 0.1, "
         "desktop 0.3, android 0.5)", type=float)


def _model_flags(p: argparse.ArgumentParser, required: bool = True) -> None:
    g = p.add_argument_group("model")
    _add(g, "--model", "local checkpoint folder or Hugging Face id (from the local cache)")
    _add(g, "--base-url", "use an OpenAI-compatible server (vLLM, SGLang) at this URL instead of loading locally")
    _add(g, "--api-key", "API key for --base-url")
    _add(g, "--device", "torch device for the local model (auto, cpu, cuda, cuda:1)")
    _add(g, "--min-pixels", "smallest screenshot area the model sees", type=int)
    _add(g, "--max-pixels", "largest screenshot area the model sees (fewer is faster, less precise)", type=int)
    _add(g, "--max-new-tokens", "longest answer", type=int)
    _add(g, "--temperature", "0 is greedy", type=float)
    _add(g, "--engine", "fast: our decoding (prompt-start cache, CUDA graphs, drafts); generate: transformers'",
         choices=["fast", "generate"])
    _add(g, "--think", "let the model write its reasoning before the tool call", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m agent", description=__doc__.split("\n")[0])
    parser.add_argument("--debug", action="store_true", default=bool(_env("debug")), help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a task")
    run.add_argument("task", help="what the agent should do, in plain words")
    _env_flags(run)
    _model_flags(run)
    _loop_flags(run)

    replay = sub.add_parser("replay", help="re-execute a recorded episode's model outputs, with no model")
    replay.add_argument("episode", type=Path, help="an episode folder written by `run`; the environment and loop "
                        "settings it recorded apply unless a flag gives them")
    _env_flags(replay, env_default=None)
    _loop_flags(replay)

    report = sub.add_parser("report", help="rebuild the HTML report of an episode folder")
    report.add_argument("episode", type=Path)

    doctor = sub.add_parser("doctor", help="report what is usable on this machine")
    doctor.add_argument("--calibrate", action="store_true", help="click a grid of targets and measure the error")
    _env_flags(doctor)
    doctor.add_argument("--model", default=_env("model"), help="also check this model can be found")

    ev = sub.add_parser("eval", help="run an evaluation suite (AndroidWorld-style; rerun into --out to resume)")
    from evals.cli import add_eval_arguments  # argparse only: cheap; the suites load when the command runs

    add_eval_arguments(ev)

    tiny = sub.add_parser("make-tiny-model", help="write a tiny random-weight Qwen2.5-VL checkpoint (for tests)")
    tiny.add_argument("directory", type=Path)

    bench = sub.add_parser("bench", help="time one agent step: plain generate against our backend (random weights)")
    _add(bench, "--arch", "architectures, comma-separated: 3b, 7b, tiny (auto: 3b,7b on a GPU, tiny on the CPU)",
         default="auto")
    _add(bench, "--screens", "screen sizes, comma-separated WIDTHxHEIGHT", default="1920x1080,2560x1440,1080x2400")
    _add(bench, "--max-pixels", "largest image area the model sees [default: the checkpoint's, native 1080p]", type=int)
    _add(bench, "--new-tokens", "tokens generated per step (end-of-turn suppressed until then)", default=40, type=int)
    _add(bench, "--repeats", "timed runs per variant; the table shows medians", default=3, type=int)
    _add(bench, "--warmup", "untimed runs per variant first", default=1, type=int)
    _add(bench, "--history-images", "screenshots in the prompt, the current one included", default=1, type=int)
    _add(bench, "--constrained", "put the tool-call grammar on `ours` (its token count then varies)",
         action="store_true")
    _add(bench, "--drafts", "only count the passes grammar drafts leave per sample action (no model; seconds)",
         action="store_true")
    _add(bench, "--device", "torch device (auto, cpu, cuda, cuda:1)", default="auto")
    _add(bench, "--dtype", "weights dtype (auto: bfloat16 on a GPU, float32 on the CPU)", default="auto",
         choices=["auto", "bfloat16", "float16", "float32"])
    _add(bench, "--attn", "attention implementation, for both variants (default: sdpa, which ours needs)")
    _add(bench, "--processor", "checkpoint folder or id whose tokenizer/processor to use [default: the tiny one]")
    _add(bench, "--seed", "seeds weights and screenshots", default=0, type=int)
    _add(bench, "--threads", "CPU threads for torch (1 is steadier on a small shared CPU) [default: torch's]",
         type=int)
    # No AGENT_OUT default here: that variable names `run`'s recordings folder, not a JSON file.
    bench.add_argument("--out", default=Path("bench.json"), type=Path, help="JSON file for the results")

    sim = sub.add_parser("phone-sim", help="start the simulated Android phone that adb can connect to")
    _add(sim, "--port", "TCP port to listen on (then: adb connect 127.0.0.1:PORT)", default=5555, type=int)
    _add(sim, "--size", "screen size in pixels, WIDTHxHEIGHT", default="1080x2400", type=_size)
    return parser


def _loop_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("loop")
    # No defaults here: AgentConfig's apply, or a replayed recording's.
    _add(g, "--max-steps", "stop after this many steps (default 30)", type=int)
    _add(g, "--history-images", "screenshots shown to the model, the current one included (default 1)", type=int)
    _add(g, "--out", "folder for recordings (one sub-folder per episode)", default=DEFAULT_OUT, type=Path)
    _add(g, "--dry-run", "show each action, execute nothing", action="store_true")
    _add(g, "--stop-file", "the run stops before the next step when this file exists [default: OUT/STOP]", type=Path)
    s = p.add_argument_group("safety")
    _add(s, "--confirm", "risky actions (pay, delete, send, install...): ask a human, allow or deny; "
         "without a terminal, ask means deny", default="ask", choices=["ask", "allow", "deny"])
    _add(s, "--policy", "a JSON file of safety rules (mode, allow_apps, deny_apps, allow_domains, deny_domains, "
         "deny_keys, patterns)", type=Path)
    for flag, what in (("--allow-app", "an app never held back"), ("--deny-app", "an app never opened or used"),
                       ("--allow-domain", "a site never held back"), ("--deny-domain", "a site never visited"),
                       ("--deny-key", "a key combination never pressed, e.g. ctrl+w")):
        s.add_argument(flag, action="append", default=[], help=f"{what}; repeat the flag for more")
    s.add_argument("--secret", action="append", default=[], metavar="NAME=VALUE",
                   help="a secret the model types as {{NAME}} without seeing it; also read from AGENT_SECRET_NAME")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="DEBUG" if args.debug else "INFO",
               format="<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> {message}")
    handler: Callable[[argparse.Namespace], int] = COMMANDS[args.command]
    try:
        with _sigterm_as_interrupt() if args.command in EPISODE_COMMANDS else contextlib.nullcontext():
            return handler(args)
    except KeyboardInterrupt:
        print("stopped (Ctrl-C or SIGTERM)", file=sys.stderr)
        return EXIT_FAILED
    except Exception as e:  # noqa: BLE001 - one line for the user; the traceback with --debug
        if args.debug or not _is_user_error(e):
            logger.opt(exception=e).error("failed")
        from pydantic import ValidationError  # loaded by then: every settings object is a pydantic model

        if isinstance(e, ValidationError):
            lines = _flag_problems(e, args, sys.argv[1:] if argv is None else argv)
        else:
            lines = [str(e)]
        for line in lines:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_USAGE


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """`timeout`, `kill` and `docker stop` send SIGTERM: raise KeyboardInterrupt as Ctrl-C does, so the loop
    ends the episode as interrupted and writes its result and report before the process goes."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _flag_problems(e: ValidationError, args: argparse.Namespace, argv: Sequence[str]) -> list[str]:
    """A pydantic ValidationError as one line per problem, naming the flag, or the variable, the value came
    from; fields that no flag sets are named as `Settings.field`."""
    lines: list[str] = []
    for problem in e.errors():
        message = problem["msg"].removeprefix("Value error, ")
        if not problem["loc"]:
            lines.append(message)
            continue
        field = str(problem["loc"][0])
        dest = FLAG_OF_FIELD.get(field, field)
        if not hasattr(args, dest):
            lines.append(f"{e.title}.{field}: {message}")
            continue
        flag = "--" + dest.replace("_", "-")
        variable = "AGENT_" + dest.upper()
        given = any(a == flag or a.startswith(flag + "=") for a in argv)
        source = flag if given or variable not in os.environ else f"{variable} ({flag})"
        part = f" ({field})" if dest != field else ""
        lines.append(f"{source}{part}: {message}, got {problem['input']!r}")
    return list(dict.fromkeys(lines))


def _is_user_error(e: Exception) -> bool:
    from pydantic import ValidationError

    from actions.geometry import GeometryError
    from agent.models.base import ModelError
    from agent.recording import RecordingError
    from environments.base import DriverError

    return isinstance(e, (UsageError, ModelError, DriverError, GeometryError, RecordingError, ValidationError,
                          ValueError, KeyError, FileNotFoundError))


def _environment(args: argparse.Namespace) -> Any:
    from environments.factory import create_environment

    options: dict[str, Any] = {"settle_delay": args.settle_delay}
    if args.env == "browser":
        if args.headed:
            _require_display()
        if args.viewport:
            options["viewport_width"], options["viewport_height"] = args.viewport
        options.update(start_url=args.start_url, device_scale_factor=args.device_scale_factor,
                       executable_path=args.browser_path, headless=not args.headed)
    elif args.env == "desktop":
        options.update(monitor=args.monitor)
    elif args.env == "android":
        options.update(serial=args.serial)
    return create_environment(args.env, **options)


def _require_display() -> None:
    """A headed browser on Linux needs an X display; without one it dies with an unrelated message, later."""
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        raise UsageError("--headed needs a display, but DISPLAY is not set; run the command under xvfb-run "
                         "(xvfb-run -a python -m agent ...), set DISPLAY, or leave out --headed")


def _model(args: argparse.Namespace) -> Any:
    from agent.models.factory import create_backend
    from agent.models.settings import ModelSettings

    if not args.model and not args.base_url:
        raise UsageError("no model given; pass --model PATH_OR_ID (or set AGENT_MODEL); "
                         "`python -m agent make-tiny-model DIR` makes a tiny one to try the setup")
    fields = dict(model=args.model, base_url=args.base_url, api_key=args.api_key, device=args.device,
                  min_pixels=args.min_pixels, max_pixels=args.max_pixels, max_new_tokens=args.max_new_tokens,
                  temperature=args.temperature, allow_thought=args.think or None, engine=args.engine)
    return create_backend(ModelSettings(**{k: v for k, v in fields.items() if v is not None}))


def _run_episode(args: argparse.Namespace, task: str, make_model: Callable[[], Any], header: dict[str, Any],
                 recorded_config: dict[str, Any] | None = None) -> int:
    """Check the cheap things first (task, environment), then load the model, then run one episode.

    `recorded_config` (a replay's) gives loop settings that no flag gives."""
    from agent.config import AgentConfig
    from agent.live import LiveView
    from agent.loop import Agent
    from agent.recording import episode_dir_for
    from prompts.qwen import THOUGHT_INSTRUCTION

    if not task.strip():
        raise UsageError("the task is empty; say what the agent should do, e.g. 'open the settings'")
    safety = _safety(args, task)
    flags = dict(max_steps=args.max_steps, history_images=args.history_images,
                 extra_instructions=THOUGHT_INSTRUCTION if getattr(args, "think", False) else None)
    config = AgentConfig(**{**(recorded_config or {}), **{k: v for k, v in flags.items() if v is not None}},
                         dry_run=args.dry_run, stop_file=args.stop_file or args.out / "STOP")
    logger.info("to stop the run: Ctrl-C, or create {}", config.stop_file)
    env = _environment(args)
    try:
        model = make_model()
        try:
            view = LiveView(config.max_steps)
            settings = {k: getattr(args, k) for k in REPLAYED_ENVIRONMENT if getattr(args, k) is not None}
            agent = Agent(env, model, config, on_step=view.step, safety=safety,
                          header={"environment": args.env, "environment_settings": settings, **header})
            result = agent.run(task, episode_dir_for(args.out, task))
        finally:
            model.close()
    finally:
        env.close()
    view.result(result)
    return EXIT_SUCCESS if result.success else EXIT_FAILED


def _safety(args: argparse.Namespace, task: str) -> Any:
    """The policy, confirmer and secrets from the flags; every mistake in them is reported here, at start."""
    import json

    from agent.safety import Safety, SafetyPolicy, Secrets

    rules: dict[str, Any] = {}
    if args.policy:
        try:
            rules = json.loads(args.policy.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UsageError(f"--policy {args.policy}: cannot read it as JSON ({e})") from None
        if not isinstance(rules, dict):
            raise UsageError(f"--policy {args.policy}: expected a JSON object of rules")
    for key, values in (("allow_apps", args.allow_app), ("deny_apps", args.deny_app),
                        ("allow_domains", args.allow_domain), ("deny_domains", args.deny_domain),
                        ("deny_keys", args.deny_key)):
        rules[key] = [*rules.get(key, []), *[v for arg in values for v in arg.split(",") if v.strip()]]
    rules.setdefault("mode", args.confirm)
    try:
        policy = SafetyPolicy(**rules)
    except ValueError as e:
        raise UsageError(f"the safety policy is not valid: {e}") from None
    secrets = Secrets.from_cli(args.secret)
    secrets.check_used(task)
    if secrets:
        logger.configure(patcher=lambda record: record.update(message=secrets.redact(record["message"])))
    return Safety(policy=policy, secrets=secrets)


def cmd_run(args: argparse.Namespace) -> int:
    return _run_episode(args, args.task, lambda: _model(args),
                        {"model_settings": {"model": args.model, "base_url": args.base_url}})


def cmd_replay(args: argparse.Namespace) -> int:
    from agent.loop import EpisodeStop
    from agent.models.replay import ReplayBackend
    from agent.recording import load_episode

    header, steps = load_episode(args.episode)
    texts = [a.raw_text for s in steps for a in s.attempts]
    if not texts:
        raise UsageError(f"{args.episode} holds no model outputs to replay")
    if args.env is None:
        args.env = header.get("environment", "browser")
    for name, value in (header.get("environment_settings") or {}).items():
        if name in REPLAYED_ENVIRONMENT and getattr(args, name) is None:
            setattr(args, name, value)
    recorded = {k: v for k, v in (header.get("config") or {}).items() if k in REPLAYED_CONFIG}
    budget = _recorded_budget(header)

    def finished() -> EpisodeStop:
        # The recording ended there (an error, Ctrl-C, or a replay that took another path): a stop, not a fault.
        return EpisodeStop("interrupted", f"replay finished: all {len(texts)} recorded answers were replayed")

    return _run_episode(args, header["task"], lambda: ReplayBackend(texts, budget, exhausted=finished),
                        {"replay_of": str(args.episode)}, recorded)


def _recorded_budget(header: dict[str, Any]) -> Any:
    from actions.geometry import ImageBudget

    b = header.get("image_budget") or {}
    return ImageBudget(**b) if b else ImageBudget()


def cmd_report(args: argparse.Namespace) -> int:
    from agent.report import write_report

    print(write_report(args.episode))
    return EXIT_SUCCESS


def cmd_doctor(args: argparse.Namespace) -> int:
    from agent.doctor import calibrate_command, doctor

    if args.calibrate:
        return calibrate_command(_environment(args))
    return doctor(args.model)


def cmd_eval(args: argparse.Namespace) -> int:
    # The CLI is the one place above both agent/ and evals/; evals itself builds on agent's loop.
    from evals.cli import eval_command

    if args.headed and not args.list:
        _require_display()
    return eval_command(args)


def cmd_make_tiny_model(args: argparse.Namespace) -> int:
    from agent.models.tiny import make_tiny_model

    path = make_tiny_model(args.directory)
    print(f"wrote a tiny random-weight Qwen2.5-VL checkpoint to {path}; try: python -m agent run "
          f"'open the settings' --model {path}")
    return EXIT_SUCCESS


def cmd_bench(args: argparse.Namespace) -> int:
    from agent.bench import bench_command  # torch and transformers load only when the command runs

    return bench_command(args)


def cmd_phone_sim(args: argparse.Namespace) -> int:
    from environments.phone_sim import serve

    width, height = args.size
    serve(port=args.port, width=width, height=height)
    return EXIT_SUCCESS


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "replay": cmd_replay,
    "report": cmd_report,
    "doctor": cmd_doctor,
    "eval": cmd_eval,
    "make-tiny-model": cmd_make_tiny_model,
    "phone-sim": cmd_phone_sim,
    "bench": cmd_bench,
}
