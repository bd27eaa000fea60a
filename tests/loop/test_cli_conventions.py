"""The command line's manners, as a user meets them: suggestions for a mistyped command, flag or choice, shown
with the usage of the command typed; --debug before or after the command; --version; setup problems reported
before the model loads; one set of model flags and variables for run and eval; a flag for each setting a
message names; doctor leaving adb as it found it."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from agent.cli_flags import build_parser, model_settings
from agent.commands import plugin_commands
from tests.support.adb import ADB, AdbServer, free_port
from tests.support.paths import ROOT



def agent(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, env={**os.environ, "COLUMNS": "300", **(env or {})})


@pytest.mark.parametrize(("args", "usage", "hint"), [
    (["rnu", "open the settings"], "usage: python -m agent [", "invalid choice: 'rnu'; did you mean 'run'?"),
    (["run", "x", "--max-stesp", "3"], "usage: python -m agent run ", "unrecognized arguments: --max-stesp 3; did you "
     "mean --max-steps?"),
    (["eval", "--suite", "phone", "--wokers=2"], "usage: python -m agent eval ", "did you mean --workers?"),
    (["run", "x", "--modle", "m", "--max-stesp", "3"], "usage: python -m agent run ",
     "did you mean --model for --modle?; did you mean --max-steps for --max-stesp?"),
    (["run", "x", "--confirm", "alow"], "usage: python -m agent run ", "argument --confirm: invalid choice: 'alow'; "
     "did you mean 'allow'? (choose from ask, allow, deny)"),
], ids=["command", "flag", "flag=value", "two-flags", "choice"])
def test_a_mistyped_word_gets_a_suggestion_and_the_commands_usage(args: list[str], usage: str, hint: str) -> None:
    done = agent(*args)
    assert done.returncode == 2 and done.stderr.startswith(usage), done.stderr
    assert hint in done.stderr.splitlines()[-1], done.stderr


def test_nothing_close_gets_no_guess() -> None:
    done = agent("run", "x", "--zzzzzz")
    assert done.returncode == 2 and done.stderr.rstrip().endswith("error: unrecognized arguments: --zzzzzz")


@pytest.mark.parametrize(("args", "env", "debug"), [
    (["report", "/no/such/episode"], {}, False),
    (["--debug", "report", "/no/such/episode"], {}, True),
    (["report", "/no/such/episode", "--debug"], {}, True),
    (["report", "/no/such/episode"], {"AGENT_DEBUG": "1"}, True),
    (["report", "/no/such/episode"], {"AGENT_DEBUG": "0"}, False),
], ids=["none", "before", "after", "variable", "variable-0"])
def test_debug_goes_anywhere(args: list[str], env: dict[str, str], debug: bool) -> None:
    done = agent(*args, env={"AGENT_DEBUG": "", **env})
    assert done.returncode == 2
    assert done.stderr.rstrip().endswith("error: /no/such/episode is not an episode folder: it has no episode.json")
    assert ("Traceback" in done.stderr) == debug, done.stderr


def test_version_is_the_projects() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    done = agent("--version")
    assert done.returncode == 0 and done.stdout == f"qwen-gui-agent {version}\n"


def imported(stderr: str) -> set[str]:
    """The modules `python -X importtime` saw imported, from its report on stderr."""
    return set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", stderr, re.MULTILINE))


def setup_check(*args: str, env: dict[str, str]) -> tuple[str, set[str]]:
    """Run a command that must stop at a setup check: its one error line and the modules it imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "agent", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=env)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1, done.stderr[-3000:]
    modules = imported(done.stderr)
    assert "agent.cli" in modules, "the import report was read"
    return errors[0], modules


@pytest.mark.parametrize(("case", "expected"), [
    ("desktop without a display", "DISPLAY is not set"),
    ("missing folder", "model directory '/no/such/model' does not exist"),
    ("id not in the cache", "model qwen-gui-agent-tests/absent-model is not in the local Hugging Face cache"),
    ("eval, the model from AGENT_MODEL", "model directory '/no/such/model' does not exist"),
])
def test_a_setup_problem_stops_the_run_before_the_model_loads(case: str, expected: str, tiny_model_dir: Path,
                                                              tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub")}
    out = str(tmp_path / "out")
    if case == "desktop without a display":
        # A real model: the display is the only thing missing, and torch never loaded shows the model did not.
        env.pop("DISPLAY", None)
        args = ["run", "open the settings", "--env", "desktop", "--model", str(tiny_model_dir), "--out", out]
    elif case == "eval, the model from AGENT_MODEL":
        env["AGENT_MODEL"] = "/no/such/model"
        args = ["eval", "--suite", "miniwob", "--tasks", "click-button", "--out", out]
    else:
        model = "/no/such/model" if case == "missing folder" else "qwen-gui-agent-tests/absent-model"
        args = ["run", "open the settings", "--model", model, "--out", out]
    line, modules = setup_check(*args, env=env)
    assert expected in line, line
    if "model" in expected:  # a missing model offers the tiny one
        assert "`python -m agent make-tiny-model models/tiny`" in line and "--model models/tiny" in line, line
    assert not modules & {"torch", "transformers"}, "the model started loading before the check"
    assert not (tmp_path / "out").exists(), "nothing is written before the checks"


def test_an_absent_android_device_stops_the_run_before_the_model_loads(adb_server: AdbServer,
                                                                       tiny_model_dir: Path, tmp_path: Path) -> None:
    line, modules = setup_check("run", "open the settings", "--env", "android", "--serial", "absent-phone",
                                "--model", str(tiny_model_dir), "--out", str(tmp_path / "out"), env=adb_server.env)
    assert "device 'absent-phone' is not attached" in line, line
    assert not modules & {"torch", "transformers"}


def test_run_and_eval_read_the_same_model_flags_and_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    variables = {"AGENT_MODEL": "models/tiny", "AGENT_MAX_PIXELS": "40000", "AGENT_ENGINE": "generate",
                 "AGENT_BASE_URL": "http://127.0.0.1:8000/v1", "AGENT_TIMEOUT_S": "7.5", "AGENT_MAX_RETRIES": "0"}
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    parser = build_parser("test", plugin_commands())  # the variables are read as the flags are defined
    run = model_settings(parser.parse_args(["run", "a task", "--temperature", "0.5"]))
    ev = model_settings(parser.parse_args(["eval", "--suite", "miniwob", "--temperature", "0.5"]))
    assert run == ev
    assert (run.model, run.max_pixels, run.engine, run.base_url, run.timeout_s, run.max_retries, run.temperature) == \
        ("models/tiny", 40000, "generate", "http://127.0.0.1:8000/v1", 7.5, 0, 0.5)


def test_an_unreachable_server_names_flags_that_exist(tmp_path: Path) -> None:
    # The message advises raising timeout_s / max_retries: both are flags, and they reach the backend.
    done = agent("run", "open the settings", "--base-url", f"http://127.0.0.1:{free_port()}/v1", "--model", "m",
                 "--max-retries", "0", "--timeout-s", "2", "--max-steps", "1", "--start-url", "data:text/html,hi",
                 "--out", str(tmp_path / "out"))
    assert done.returncode == 1, done.stderr
    assert "failed 1 time(s)" in done.stderr and "(--timeout-s / --max-retries)" in done.stderr, done.stderr


def listening(port: int) -> bool:
    try:
        socket.create_connection(("localhost", port), timeout=2).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(ADB is None, reason="Debian's `adb` is not installed (apt-get install adb)")
def test_doctor_stops_the_adb_server_it_started(tmp_path: Path) -> None:
    server = AdbServer(free_port())  # a port where no server runs, never the user's 5037
    try:
        done = agent("doctor", env={"ANDROID_ADB_SERVER_PORT": str(server.port), "ADB_EMU": "0"})
        assert done.returncode == 0, done.stderr
        assert re.search(r"adb +│ yes +│ \S+adb; devices: none", done.stdout), done.stdout  # it did reach adb
        assert not listening(server.port), "doctor left the adb server it started running"
    finally:
        server.run("kill-server")  # in case it did


def test_doctor_leaves_a_running_adb_server_running(adb_server: AdbServer) -> None:
    done = agent("doctor", env={"ANDROID_ADB_SERVER_PORT": str(adb_server.port), "ADB_EMU": "0"})
    assert done.returncode == 0, done.stderr
    assert listening(adb_server.port), "doctor stopped an adb server it did not start"
