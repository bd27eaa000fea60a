"""The command line's flags: every one also read from an environment variable AGENT_<FLAG>, and a settings
error traced back to the flag (or variable) that gave the value."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from agent.models.default_model import DEFAULT_LINK, DEFAULT_MODEL_ID, default_model, is_tiny
from environments.browser.settings import DISPLAY_MODES
from environments.sites import SITES

if TYPE_CHECKING:
    from pydantic import ValidationError

    from agent.commands import Command

DEFAULT_OUT = "runs"
# Where a server reads the tool-call grammar (ModelSettings.grammar_field): vLLM >= 0.12, older vLLM, SGLang.
GRAMMAR_FIELDS = ("structured_outputs", "guided_grammar", "ebnf")


# 3: a bug in this program, not in what the user gave; it shows its traceback.
EXIT_SUCCESS, EXIT_FAILED, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 3


class UsageError(Exception):
    """Bad flags, input files or a missing setup step: printed as one line, exit code 2."""
# Settings fields whose flag is not simply the field's name with dashes.
FLAG_OF_FIELD = {"viewport_width": "viewport", "viewport_height": "viewport", "executable_path": "browser_path",
                 "display": "browser_display", "allow_thought": "think", "scale": "desktop_scale",
                 "cpus_per_instance": "ray_cpus_per_instance", "gpus_per_instance": "ray_gpus_per_instance"}


def _env(flag: str, default: Any = None) -> Any:
    return os.environ.get("AGENT_" + flag.upper().replace("-", "_"), default)


def add_flag(p: argparse._ActionsContainer, flag: str, help: str, default: Any = None, **kw: Any) -> None:
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
    add_flag(g, "--env", "where to act: browser, desktop or android", default=env_default)
    add_flag(g, "--start-url", "browser: the page to open first")
    add_flag(g, "--site", "browser: open a site shipped with the project, served on this machine (no internet "
             "needed): " + ", ".join(f"{k} ({v})" for k, v in SITES.items()), choices=sorted(SITES))
    add_flag(g, "--viewport", "browser: viewport size in CSS pixels, WIDTHxHEIGHT", type=_size)
    add_flag(g, "--device-scale-factor", "browser: device pixels per CSS pixel (2 for HiDPI)", type=float)
    add_flag(g, "--browser-display", "browser: virtual (headed Chromium on its own Xvfb: native widgets and dialogs "
         "work), headless, window (a visible window on your DISPLAY, to watch), or auto (virtual where it can run, "
         "else headless) [default: auto]",
         choices=DISPLAY_MODES)
    add_flag(g, "--headed", "browser: the same as --browser-display window", action="store_true")
    add_flag(g, "--touch", "browser: a phone: the model answers with mobile_use (tap, long press, swipe, type, "
             "system buttons), carried out by touch; pair it with a phone viewport such as --viewport 360x800 "
             "--device-scale-factor 3", action="store_true")
    add_flag(g, "--upload-dir", "browser: files under this folder may be uploaded when a page asks for one (default: "
         "uploads are off)", type=Path)
    add_flag(g, "--browser-path", "browser: the Chromium executable to drive")
    add_flag(g, "--monitor", "desktop: which monitor to capture and act on (1 = the first)", type=int)
    add_flag(g, "--desktop-scale", "desktop: physical pixels per logical pixel (default: measured; 1 on X11)",
             type=float)
    add_flag(g, "--serial", "android: the device serial, when several are attached")
    add_flag(g, "--settle-delay", "seconds to wait after each action for the screen to follow (default: browser 0, "
         "as it waits for the page to be drawn; desktop 0.3, android 0.5)", type=float)


def add_model_flags(p: argparse.ArgumentParser, title: str = "model") -> argparse._ArgumentGroup:
    """The model flags `run` and `eval` share, read from the same AGENT_* variables; `model_settings` reads them."""
    g = p.add_argument_group(title)
    add_flag(g, "--model", "local checkpoint folder or Hugging Face id (from the local cache)")
    add_flag(g, "--base-url", "use an OpenAI-compatible server (vLLM, SGLang) at this URL instead of loading locally")
    add_flag(g, "--api-key", "API key for --base-url")
    add_flag(g, "--grammar-field", "--base-url: where the server reads the tool-call grammar: structured_outputs "
             "(vLLM >= 0.12), guided_grammar (older vLLM), ebnf (SGLang)", choices=GRAMMAR_FIELDS)
    add_flag(g, "--timeout-s", "--base-url: seconds to wait for one answer (default 120)", type=float)
    add_flag(g, "--max-retries", "--base-url: retries after a timeout, a 429 or a 5xx (default 3)", type=int)
    add_flag(g, "--device", "torch device for the local model (auto, cpu, cuda, cuda:1)")
    add_flag(g, "--min-pixels", "smallest screenshot area the model sees", type=int)
    add_flag(g, "--max-pixels", "largest screenshot area the model sees (fewer is faster, less precise)", type=int)
    add_flag(g, "--max-new-tokens", "longest answer", type=int)
    add_flag(g, "--temperature", "0 is greedy", type=float)
    add_flag(g, "--engine", "fast: our decoding (prompt-start cache, CUDA graphs, drafts); generate: transformers'",
             choices=["fast", "generate"])
    return g


# ModelSettings fields that `add_model_flags` sets under their own names; `run` adds think's two.
MODEL_FIELDS = ("model", "base_url", "api_key", "grammar_field", "timeout_s", "max_retries", "device", "min_pixels",
                "max_pixels", "max_new_tokens", "temperature", "engine")


def model_settings(args: argparse.Namespace) -> Any:
    """ModelSettings from the model flags; a flag not given leaves the settings' default."""
    from agent.models.settings import ModelSettings

    fields = {name: getattr(args, name) for name in MODEL_FIELDS}
    if getattr(args, "think", False):
        fields.update(allow_thought=True, max_thought_tokens=args.max_thought_tokens)
    return ModelSettings(**{k: v for k, v in fields.items() if v is not None})


def fill_default_model(args: argparse.Namespace) -> None:
    """Give `args.model` the default model (models/default) when neither a model nor a server was given."""
    if args.model or args.base_url:
        return
    found = default_model()
    if found is None:
        raise UsageError(f"no model given and no {DEFAULT_LINK} here; pass --model PATH_OR_ID (or set AGENT_MODEL), "
                         "or run `python -m agent fetch-model` (it fetches the default weights when online, else "
                         "makes a tiny random-weight model to try the setup)")
    if is_tiny(found):
        logger.warning("no --model given: using {} = the tiny random-weight model; its actions are random "
                       "(`python -m agent fetch-model` when online fetches real weights)", DEFAULT_LINK)
    else:
        logger.info("no --model given: using {} = {}", DEFAULT_LINK, found)
    args.model = str(found)


PACKAGE = "qwen-gui-agent"
DEBUG_HELP = "show tracebacks and debug logs"


class Parser(argparse.ArgumentParser):
    """argparse that says what was meant: a mistyped command, flag or choice gets "did you mean ...?", and an
    unknown flag is reported with the usage of the command it was given to, not the top level's."""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        # argparse's one check of a value against `choices` (the commands included); it gives no suggestion.
        if action.choices is not None and value not in action.choices:
            choices = [str(c) for c in action.choices]
            close = difflib.get_close_matches(str(value), choices, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise argparse.ArgumentError(action, f"invalid choice: {value!r}{hint} (choose from {', '.join(choices)})")

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = self._command_parser(getattr(parsed, "command", None))
            command.error(f"unrecognized arguments: {' '.join(extras)}{command._suggestions(extras)}")
        return parsed

    def _command_parser(self, name: str | None) -> Parser:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction) and name in action.choices:
                return action.choices[name]
        return self

    def _suggestions(self, extras: Sequence[str]) -> str:
        """"; did you mean --max-steps?" for each unknown flag that is close to one of this command's."""
        flags = list(self._option_string_actions)
        close = {arg: difflib.get_close_matches(arg.split("=", 1)[0], flags, n=1) for arg in extras if arg.startswith("-")}
        hints = [(arg, found[0]) for arg, found in close.items() if found]
        if len(hints) == 1:
            return f"; did you mean {hints[0][1]}?"
        return "".join(f"; did you mean {flag} for {arg}?" for arg, flag in hints)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{PACKAGE} {version(PACKAGE)}"
    except PackageNotFoundError:
        return f"{PACKAGE} (version unknown: not installed; run `bash scripts/install.sh` from the project folder)"


def build_parser(description: str, plugins: Mapping[str, Command]) -> argparse.ArgumentParser:
    parser = Parser(prog="python -m agent", description=description)
    parser.add_argument("--version", action="version", version=_version(), help="print the version and exit")
    add_flag(parser, "--debug", DEBUG_HELP, action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a task")
    run.add_argument("task", help="what the agent should do, in plain words")
    _env_flags(run)
    model = add_model_flags(run)
    add_flag(model, "--think", "let the model write its reasoning before the tool call", action="store_true")
    add_flag(model, "--max-thought-tokens", "--think: how many tokens the reasoning may take (default 128)", type=int)
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

    for command in plugins.values():  # `eval`, from evals/ (argparse only: its suites load when it runs)
        command.add_arguments(sub.add_parser(command.name, help=command.help))

    tiny = sub.add_parser("make-tiny-model", help="write a tiny random-weight Qwen2.5-VL checkpoint (for tests)")
    tiny.add_argument("directory", type=Path)

    fetch = sub.add_parser("fetch-model", help="make a model the default (models/default): from the local cache, "
                           "downloaded when online, else the tiny random-weight one")
    fetch.add_argument("--model", default=DEFAULT_MODEL_ID, help=f"Hugging Face id [default: {DEFAULT_MODEL_ID}]")
    fetch.add_argument("--no-download", action="store_true",
                       help="never reach the network: use the cache, the current default, or the tiny model")

    bench = sub.add_parser("bench", help="time one agent step: plain generate against our backend (random weights)")
    add_flag(bench, "--arch", "architectures, comma-separated: 3b, 7b, tiny (auto: 3b,7b on a GPU, tiny on the CPU)",
         default="auto")
    add_flag(bench, "--screens", "screen sizes, comma-separated WIDTHxHEIGHT", default="1920x1080,2560x1440,1080x2400")
    add_flag(bench, "--max-pixels", "largest image area the model sees [default: the checkpoint's, native 1080p]", type=int)
    add_flag(bench, "--new-tokens", "tokens generated per step (end-of-turn suppressed until then)", default=40, type=int)
    add_flag(bench, "--repeats", "timed runs per variant; the table shows medians", default=3, type=int)
    add_flag(bench, "--warmup", "untimed runs per variant first", default=1, type=int)
    add_flag(bench, "--history-images", "screenshots in the prompt, the current one included", default=1, type=int)
    add_flag(bench, "--constrained", "put the tool-call grammar on `ours` (its token count then varies)",
         action="store_true")
    add_flag(bench, "--drafts", "only count the passes grammar drafts leave per sample action (no model; seconds)",
         action="store_true")
    add_flag(bench, "--device", "torch device (auto, cpu, cuda, cuda:1)", default="auto")
    add_flag(bench, "--dtype", "weights dtype (auto: bfloat16 on a GPU, float32 on the CPU)", default="auto",
         choices=["auto", "bfloat16", "float16", "float32"])
    add_flag(bench, "--attn", "attention implementation, for both variants (default: sdpa, which ours needs)")
    add_flag(bench, "--processor", "checkpoint folder or id whose tokenizer/processor to use [default: the tiny one]")
    add_flag(bench, "--seed", "seeds weights and screenshots", default=0, type=int)
    add_flag(bench, "--threads", "CPU threads for torch (1 is steadier on a small shared CPU) [default: torch's]",
         type=int)
    # No AGENT_OUT default here: that variable names `run`'s recordings folder, not a JSON file.
    bench.add_argument("--out", default=Path("bench.json"), type=Path, help="JSON file for the results")

    bb = sub.add_parser("bench-browser", help="time the framework's own part of a browser step, by phase (no model)")
    add_flag(bb, "--screens", "viewports, comma-separated WIDTHxHEIGHT[@SCALE]", default="1280x800,1920x1080,1280x800@2")
    add_flag(bb, "--browser-display", "display modes, comma-separated: virtual, headless, window, auto",
         default="virtual,headless")
    add_flag(bb, "--steps", "clicks per configuration; the table shows medians after the first", default=15, type=int)
    bb.add_argument("--out", default=Path("bench-browser.json"), type=Path, help="JSON file for the results")

    bp = sub.add_parser("bench-parser", help="time the answer parser on a generated fuzz corpus, worst case first")
    add_flag(bp, "--answers", "answers in the corpus", default=5000, type=int)
    add_flag(bp, "--max-bytes", "largest answer, in UTF-8 bytes", default=10_240, type=int)
    add_flag(bp, "--seed", "seeds the corpus (the same seed times the same answers)", default=0, type=int)

    sim = sub.add_parser("phone-sim", help="start the simulated Android phone that adb can connect to")
    add_flag(sim, "--port", "TCP port to listen on (then: adb connect 127.0.0.1:PORT)", default=5555, type=int)
    add_flag(sim, "--size", "screen size in pixels, WIDTHxHEIGHT", default="1080x2400", type=_size)
    for command in sub.choices.values():
        # Also after the command (`run ... --debug`). SUPPRESS: a command that was not given it leaves the top
        # level's value (the flag before the command, or AGENT_DEBUG) alone.
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


def _loop_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("loop")
    # No defaults here: AgentConfig's apply, or a replayed recording's.
    add_flag(g, "--max-steps", "stop after this many steps (default 30)", type=int)
    add_flag(g, "--history-images", "screenshots shown to the model, the current one included (default 1)", type=int)
    add_flag(g, "--out", "folder for recordings (one sub-folder per episode)", default=DEFAULT_OUT, type=Path)
    add_flag(g, "--dry-run", "show each action, execute nothing", action="store_true")
    add_flag(g, "--answer", "the task asks a question: offer the model `answer` (not in the checkpoints' tools)",
         action="store_true")
    add_flag(g, "--stop-file", "the run stops before the next step when this file exists [default: OUT/STOP]", type=Path)
    s = p.add_argument_group("safety")
    add_flag(s, "--confirm", "risky actions (pay, delete, send, install...): ask a human, allow or deny; "
         "without a terminal, ask means deny", default="ask", choices=["ask", "allow", "deny"])
    add_flag(s, "--policy", "a JSON file of safety rules (mode, allow_apps, deny_apps, allow_domains, deny_domains, "
         "deny_keys, patterns)", type=Path)
    for flag, what in (("--allow-app", "an app never held back"), ("--deny-app", "an app never opened or used"),
                       ("--allow-domain", "a site never held back"), ("--deny-domain", "a site never visited"),
                       ("--deny-key", "a key combination never pressed, e.g. ctrl+w")):
        s.add_argument(flag, action="append", default=[], help=f"{what}; repeat the flag for more")
    s.add_argument("--secret", action="append", default=[], metavar="NAME=VALUE",
                   help="a secret the model types as {{NAME}} without seeing it; also read from AGENT_SECRET_NAME")


def flag_problems(e: ValidationError, args: argparse.Namespace, argv: Sequence[str]) -> list[str]:
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


def browser_display(args: argparse.Namespace) -> str | None:
    """The browser's display mode from --browser-display and its shorthand --headed; a window on the user's
    screen on Linux needs an X display, and without one Chromium dies later with an unrelated message."""
    mode = "window" if args.headed else args.browser_display
    if args.headed and args.browser_display not in (None, "window"):
        raise UsageError(f"--headed means --browser-display window, but --browser-display {args.browser_display} "
                         "was also given; keep one of them")
    if mode == "window" and sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        raise UsageError("a browser window (--headed) needs a display, but DISPLAY is not set; leave it out "
                         "(the browser then runs on a virtual display it starts itself, or headless where it "
                         "cannot), or set DISPLAY")
    return mode
