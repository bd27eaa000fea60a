"""The command line's manners, as a user meets them: suggestions for a mistyped command, flag or choice, shown
with the usage of the command typed; --debug before or after the command; --version."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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
