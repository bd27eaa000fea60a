"""`python -m agent ...`: run a task, replay or report an episode, check the machine, make a tiny model.

Every flag can also be set by an environment variable named AGENT_<FLAG> (AGENT_MODEL, AGENT_ENV, ...).
Exit codes: 0 the task reported success, 1 it failed or was stopped, 2 a usage or setup error.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from loguru import logger

from agent.cli_flags import (EXIT_BUG, EXIT_FAILED, EXIT_SUCCESS, EXIT_USAGE, UsageError, browser_display,
                             build_parser, fill_default_model, flag_problems, model_settings)
from agent.commands import Command, plugin_commands
from agent.logs import enable_logs, stderr_sink
# Settings a replay takes from the recording unless a flag (or its variable) gives them: those that decide
# what the model was shown and how many answers the loop asks for, so the recorded answers fit again.
REPLAYED_ENVIRONMENT = ("start_url", "site", "viewport", "device_scale_factor", "touch", "monitor", "settle_delay")
REPLAYED_CONFIG = ("max_steps", "history_images", "retries_on_bad_answer", "stuck_after", "extra_instructions",
                   "dry_run", "answer")
# Where an action space is acted in, for recordings that do not name their environment (an eval's).
ENVIRONMENT_OF_SPACE = {"computer": "desktop", "browser": "browser", "mobile": "android"}
# Commands that run episodes: SIGTERM ends them as Ctrl-C does, so each episode records how it ended.
EPISODE_COMMANDS = ("run", "replay")


def main(argv: Sequence[str] | None = None) -> int:
    plugins = plugin_commands()
    args = build_parser(__doc__.split("\n")[0], plugins).parse_args(argv)
    enable_logs()  # off for library users; a command line shows them
    logger.remove()
    # No variable values in tracebacks: they can hold a secret or a screenshot's text.
    sink = logger.add(stderr_sink, level="DEBUG" if args.debug else "INFO", diagnose=False,
                      colorize=sys.stderr.isatty(),
                      format="<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> {message}")
    try:
        return _command(args, argv, plugins)
    finally:
        logger.remove(sink)  # an in-process caller (a test, a notebook) is left no sink of ours


def _stdout_reader_gone() -> bool:
    """Whether stdout is a pipe whose reader has closed it (Linux reports POLLERR on its write end then)."""
    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poll.poll(0))
    except (OSError, ValueError, AttributeError):  # no file descriptor (a test's capture), or no poll here
        return False


def _command(args: argparse.Namespace, argv: Sequence[str] | None, plugins: dict[str, Command]) -> int:
    plugin = plugins.get(args.command)
    handler: Callable[[argparse.Namespace], int] = plugin.run if plugin else COMMANDS[args.command]
    episodes = plugin.runs_episodes if plugin else args.command in EPISODE_COMMANDS
    try:
        with _sigterm_as_interrupt() if episodes else contextlib.nullcontext():
            code = handler(args)
        sys.stdout.flush()  # a reader gone shows here, handled below, not as a warning at the interpreter's exit
        return code
    except KeyboardInterrupt:
        print("stopped (Ctrl-C or SIGTERM)", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        if not _stdout_reader_gone():
            raise
        # `... | head` stopped reading: not an error of ours. Later writes (the interpreter's flush at exit) go nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as e:  # noqa: BLE001 - one line for the user; the traceback with --debug
        if not _is_user_error(e):
            # Our bug, not the user's input: never dressed up as a usage error.
            logger.opt(exception=e).error("internal error")
            print(f"error: internal error ({type(e).__name__}: {e}); this is a bug in qwen-gui-agent, please "
                  "report it with the traceback above", file=sys.stderr)
            return EXIT_BUG
        if args.debug:
            logger.opt(exception=e).error("failed")
        from pydantic import ValidationError  # loaded by then: every settings object is a pydantic model

        if isinstance(e, ValidationError):
            lines = flag_problems(e, args, sys.argv[1:] if argv is None else argv)
        else:
            lines = [str(e)]
        for line in lines:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_USAGE


# Set by a SIGTERM during an episode command; the loop also asks it before each step (Agent's `interrupted`).
_SIGNALLED = threading.Event()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """`timeout`, `kill` and `docker stop` send SIGTERM: raise KeyboardInterrupt as Ctrl-C does, so the loop
    ends the episode as interrupted and writes its result and report before the process goes. The raise can
    land where Python only prints it (a weakref callback): the event tells the loop all the same."""

    def interrupt(signum: int, frame: object) -> None:
        _SIGNALLED.set()
        raise KeyboardInterrupt

    _SIGNALLED.clear()

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _is_user_error(e: Exception) -> bool:
    """What the user gave or set up is wrong (flags, files, the model, the device), as opposed to a bug here."""
    from pydantic import ValidationError

    from actions.geometry import GeometryError
    from actions.space import UnknownSpaceError
    from agent.models.base import ModelError
    from agent.recording import RecordingError
    from agent.safety.secrets import SecretError
    from environments.base import DriverError
    from environments.factory import UnknownEnvironmentError

    return isinstance(e, (UsageError, ModelError, DriverError, GeometryError, RecordingError, ValidationError,
                          SecretError, UnknownSpaceError, UnknownEnvironmentError, FileNotFoundError))


def _environment(args: argparse.Namespace) -> Any:
    from environments.factory import create_environment

    options: dict[str, Any] = {"settle_delay": args.settle_delay}
    if args.env == "browser":
        if args.viewport:
            options["viewport_width"], options["viewport_height"] = args.viewport
        options.update(start_url=args.start_url, site=args.site, device_scale_factor=args.device_scale_factor,
                       executable_path=args.browser_path, display=browser_display(args), upload_dir=args.upload_dir,
                       touch=args.touch)
    elif args.env == "desktop":
        options.update(monitor=args.monitor, scale=args.desktop_scale)
    elif args.env == "android":
        options.update(serial=args.serial)
    return create_environment(args.env, **options)


def _model(args: argparse.Namespace) -> Any:
    from agent.models.factory import create_backend

    fill_default_model(args)
    return create_backend(model_settings(args))  # a missing model is refused before torch is imported


def _run_episode(args: argparse.Namespace, task: str, make_model: Callable[[], Any], header: dict[str, Any],
                 recorded_config: dict[str, Any] | None = None) -> int:
    """Check the cheap things first (task, environment), then load the model, then run one episode.

    `recorded_config` (a replay's) gives loop settings that no flag gives."""
    from agent.config import AgentConfig
    from agent.live import LiveView
    from agent.loop import Agent
    from agent.recording import episode_dir_for
    from agent.trajectory import EpisodeResult
    from prompts.qwen import THOUGHT_INSTRUCTION

    if not task.strip():
        raise UsageError("the task is empty; say what the agent should do, e.g. 'open the settings'")
    try:
        task.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes on the command line arrive as lone surrogates
        raise UsageError("the task is not valid UTF-8 text (a terminal in another encoding?); give it as UTF-8") \
            from None
    safety = _safety(args, task)
    flags = dict(max_steps=args.max_steps, history_images=args.history_images,
                 extra_instructions=THOUGHT_INSTRUCTION if getattr(args, "think", False) else None)
    recorded = recorded_config or {}
    # A dry run's recording replays as a dry run: its actions were never meant to be carried out.
    flags["dry_run"] = args.dry_run or recorded.get("dry_run")
    flags["answer"] = args.answer or recorded.get("answer")
    config = AgentConfig(**{**recorded, **{k: v for k, v in flags.items() if v is not None}},
                         stop_file=args.stop_file or args.out / "STOP")
    logger.info("to stop the run: Ctrl-C, or create {}", config.stop_file)
    with LiveView(config.max_steps, environment=args.env) as view:
        view.phase(f"preparing the {args.env}")
        env = _environment(args)
        try:
            view.phase("loading the model")
            model = make_model()
            try:
                # A switch left off (False) is not recorded, as a flag not given is not.
                settings = {k: v for k in REPLAYED_ENVIRONMENT
                            if (v := getattr(args, k)) is not None and v is not False}
                agent = Agent(env, model, config, on_step=view.step, on_phase=view.step_phase, safety=safety,
                              header={"environment": args.env, "environment_settings": settings, **header},
                              interrupted=_SIGNALLED.is_set)
                result = agent.run(task, episode_dir_for(args.out, task))
            finally:
                model.close()
        finally:
            view.phase(f"closing the {args.env}")
            env.close()
    view.result(EpisodeResult.model_validate(safety.secrets.redact_data(result.model_dump(mode="json"))))
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
    from agent.models.replay import ReplayBackend, recording_replayed
    from agent.recording import load_episode, recorded_image_budget

    header, steps = load_episode(args.episode)
    texts = [a.raw_text for s in steps for a in s.attempts]
    finishes = [a.finish for s in steps for a in s.attempts]
    if not texts:
        raise UsageError(f"{args.episode} holds no model outputs to replay")
    for command in plugin_commands().values():
        if command.replay and header.get(command.name):
            return command.replay(args, header, texts, finishes)
    if header.get("eval"):
        raise UsageError(f"{args.episode} is an eval's episode, and the eval command is not installed; install the "
                         "project (pip install -e .) and replay it again")
    if args.env is None:
        args.env = header.get("environment") or ENVIRONMENT_OF_SPACE.get(header.get("action_space", ""), "browser")
    for name, value in (header.get("environment_settings") or {}).items():
        # A switch left off (--touch is False) counts as not given: the recorded answers need the recorded value.
        if name in REPLAYED_ENVIRONMENT and (getattr(args, name) is None or getattr(args, name) is False):
            setattr(args, name, value)
    recorded = {k: v for k, v in (header.get("config") or {}).items() if k in REPLAYED_CONFIG}
    budget = recorded_image_budget(header)

    return _run_episode(args, header["task"],
                        lambda: ReplayBackend(texts, budget, exhausted=lambda: recording_replayed(len(texts)),
                                              finishes=finishes),
                        {"replay_of": str(args.episode)}, recorded)


def cmd_report(args: argparse.Namespace) -> int:
    from agent.report import write_report

    print(write_report(args.episode))
    return EXIT_SUCCESS


def cmd_doctor(args: argparse.Namespace) -> int:
    from agent.doctor import calibrate_command, doctor

    if args.calibrate:
        return calibrate_command(_environment(args))
    return doctor(args.model)


def cmd_make_tiny_model(args: argparse.Namespace) -> int:
    from agent.models.tiny import make_tiny_model

    path = make_tiny_model(args.directory)
    print(f"wrote a tiny random-weight Qwen2.5-VL checkpoint to {path}; try: python -m agent run "
          f"'open the settings' --model {path}")
    return EXIT_SUCCESS


def cmd_bench(args: argparse.Namespace) -> int:
    from agent.bench import bench_command  # torch and transformers load only when the command runs

    return bench_command(args)


def cmd_bench_browser(args: argparse.Namespace) -> int:
    from agent.bench.browser_steps import Screen, format_table, run_browser_bench
    from environments.browser.settings import DISPLAY_MODES

    try:
        screens = [Screen.parse(text) for text in args.screens.split(",")]
    except ValueError as e:
        raise UsageError(f"--screens: {e}") from None
    displays = [d.strip() for d in args.browser_display.split(",")]
    if bad := [d for d in displays if d not in DISPLAY_MODES]:
        raise UsageError(f"--browser-display: {', '.join(bad)} is not a display mode; choose from "
                         f"{', '.join(DISPLAY_MODES)}")
    if args.steps < 2:
        raise UsageError(f"--steps must be at least 2 (the first step is left out of the medians), got {args.steps}")
    results = run_browser_bench(screens, displays, args.steps, args.out)
    print(format_table(results))
    print(f"results in {args.out}")
    return EXIT_SUCCESS


def cmd_fetch_model(args: argparse.Namespace) -> int:
    from agent.models.default_model import fetch_default_model

    fetch_default_model(args.model, download=not args.no_download)
    return EXIT_SUCCESS


def cmd_bench_parser(args: argparse.Namespace) -> int:
    from agent.bench.parser import corpus, format_report, time_corpus

    if args.answers < 1:
        raise UsageError(f"--answers must be at least 1, got {args.answers}")
    if args.max_bytes < 64:
        raise UsageError(f"--max-bytes must be at least 64 (room for one tool call), got {args.max_bytes}")
    print(format_report(time_corpus(corpus(args.answers, args.max_bytes, args.seed))))
    return EXIT_SUCCESS


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
    "make-tiny-model": cmd_make_tiny_model,
    "fetch-model": cmd_fetch_model,
    "phone-sim": cmd_phone_sim,
    "bench": cmd_bench,
    "bench-browser": cmd_bench_browser,
    "bench-parser": cmd_bench_parser,
}
