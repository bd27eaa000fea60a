"""The agent as a library: the README's example run as it is, the names importing nothing heavy, the command
line's safety by default, and no log lines unless asked for."""

from __future__ import annotations

import ast
import os
import pty
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from actions.geometry import ImageBudget
from agent import Agent, AgentConfig, Safety
from agent.models.replay import ReplayBackend
from agent.recording import load_episode
from environments import BrowserEnvironment, BrowserSettings
from tests.support.paths import ROOT

# A line in loguru's default format, which is where the packages' logs would go if they were on.
LOG_LINE = re.compile(r"\| (TRACE|DEBUG|INFO|SUCCESS|WARNING|ERROR|CRITICAL) +\| ", re.MULTILINE)
# One risky button over the whole page: any click lands on it.
PAY_PAGE = "data:text/html," + urllib.parse.quote(
    "<body style='margin:0'><button style='width:100vw;height:100vh' onclick='document.title=\"paid\"'>"
    "Pay now</button></body>")
CLICK = '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [50, 50]}}\n' \
        "</tool_call>"
BUDGET = ImageBudget(max_pixels=60_000)


def python(code: str, cwd: Path, env: dict[str, str] | None = None,
           stdin: int | None = None) -> subprocess.CompletedProcess[str]:
    # A process of its own: the worktree's packages, and none of the test process's log sinks or switches.
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, stdin=stdin)


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using it as a library", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_example_runs_as_it_is_and_prints_no_log_line(tiny_model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny").symlink_to(tiny_model_dir)  # what `make-tiny-model models/tiny` leaves
    done = python(readme_example(), tmp_path)
    assert done.returncode == 0, done.stderr
    reason, steps, out = done.stdout.strip().splitlines()[-1].split()
    assert reason in ("terminate", "answer", "max_steps", "stuck") and 1 <= int(steps) <= 2, done.stdout
    assert out == "runs/press-go" and (tmp_path / out / "report.html").is_file()
    assert not LOG_LINE.search(done.stderr), done.stderr


def test_logs_are_off_until_the_application_turns_them_on(tmp_path: Path) -> None:
    # A missing Hub model logs one debug line in agent.models.loading on its way to the error.
    code = ("import sys\nfrom agent import ModelError, ModelSettings, create_backend{}\n"
            "try:\n    create_backend(ModelSettings(model='qwen-gui-agent-tests/absent-model'))\n"
            "except ModelError as e:\n    print(e)\n"
            "print('torch' in sys.modules, 'transformers' in sys.modules)\n")
    env = {"HF_HUB_CACHE": str(tmp_path / "hub")}
    quiet = python(code.format(""), tmp_path, env)
    loud = python(code.format(", enable_logs\nenable_logs()"), tmp_path, env)
    for done in (quiet, loud):
        assert done.returncode == 0, done.stderr
        assert "make-tiny-model models/tiny" in done.stdout  # the error names the tiny model ...
        assert done.stdout.strip().endswith("False False")  # ... before torch or transformers are imported
    assert quiet.stderr == "", quiet.stderr
    assert LOG_LINE.search(loud.stderr) and "not in the local cache" in loud.stderr, loud.stderr


def test_importing_the_names_loads_no_model_code_and_no_driver(tmp_path: Path) -> None:
    done = python("import sys\nimport agent, environments\n"
                  "from agent import Agent, AgentConfig, ModelSettings, Safety, create_backend\n"
                  "from environments import BrowserSettings\n"
                  "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'playwright', "
                  "'pyautogui', 'adbutils'}))\n", tmp_path)
    assert done.returncode == 0 and done.stdout == "[]\n", done.stderr


# Any import of these fails: a module that needs one at import time shows up by name.
WITHOUT_EXTRAS = """
import importlib, importlib.abc, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition('.')[0] in ('torch', 'transformers', 'playwright'):
            raise ModuleNotFoundError(f'No module named {name!r} (blocked by the test)', name=name)
sys.meta_path.insert(0, Absent())
for name in sys.argv[1:]:
    importlib.import_module(name)
"""
# The packages, and the modules behind the command lines, the seams and every driver.
LIGHT_MODULES = ("agent", "environments", "evals", "actions", "prompts", "agent.cli", "agent.loop",
                 "agent.models.factory", "environments.factory", "environments.browser.driver", "environments.desktop.driver",
                 "environments.android.driver", "environments.contract", "environments.calibration", "evals.cli",
                 "evals.runner", "evals.miniwob.tasks", "evals.phone.tasks", "prompts.qwen", "actions.parsing")


def test_the_packages_import_without_torch_transformers_or_playwright(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", WITHOUT_EXTRAS, *LIGHT_MODULES], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at its top or inside a function."""
    tree = ast.parse(path.read_text())
    names = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    return names | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


def test_the_safety_policy_and_the_action_space_import_no_driver() -> None:
    """The policy reads drivers through the environment seam's capabilities only, and the action space (key
    names included) sits below every driver."""
    for path in sorted((ROOT / "agent" / "safety").glob("*.py")):
        drivers = {m for m in imported_modules(path) if m.startswith("environments.")}
        assert drivers <= {"environments.base", "environments.capabilities"}, (path.name, drivers)
    for path in sorted((ROOT / "actions").glob("*.py")):
        upward = {m for m in imported_modules(path) if m.partition(".")[0] in ("agent", "environments", "evals")}
        assert not upward, (path.name, upward)


def test_nothing_under_agent_imports_evals() -> None:
    """evals/ builds on agent's loop; the eval command reaches `python -m agent` through its entry point."""
    for path in sorted((ROOT / "agent").rglob("*.py")):
        upward = {m for m in imported_modules(path) if m.partition(".")[0] == "evals"}
        assert not upward, (path.relative_to(ROOT), upward)


def test_the_eval_command_comes_from_the_installed_entry_point() -> None:
    from agent.commands import plugin_commands
    from evals.cli import EVAL_COMMAND

    assert plugin_commands() == {"eval": EVAL_COMMAND}


@pytest.fixture(scope="module")
def pay_page() -> BrowserEnvironment:
    env = BrowserEnvironment(BrowserSettings(viewport_width=320, viewport_height=200, start_url=PAY_PAGE,
                                             display="headless"))
    yield env
    env.close()


@pytest.mark.parametrize(("safety", "paid"), [(None, False), (Safety(policy=None), True)], ids=["default", "off"])
def test_the_default_safety_refuses_a_risky_click_without_a_terminal(pay_page: BrowserEnvironment, tmp_path: Path,
                                                                     safety: Safety | None, paid: bool) -> None:
    # pytest gives the test no terminal on stdin: the default asks, so it refuses; no policy lets it through.
    result = Agent(pay_page, ReplayBackend([CLICK], BUDGET), AgentConfig(max_steps=1), safety=safety).run(
        "pay", tmp_path / "ep")
    (step,) = load_episode(tmp_path / "ep")[1]
    assert (pay_page.page().title() == "paid") == paid == step.executed, result
    if not paid:
        assert step.safety.verdict == "ask" and "no terminal" in step.safety.decision, step.safety


def test_the_default_safety_asks_on_a_terminal(tmp_path: Path) -> None:
    code = ("from agent import Agent, AgentConfig\nfrom agent.models.replay import ReplayBackend\n"
            "from actions.geometry import ImageBudget\nfrom environments import BrowserEnvironment, BrowserSettings\n"
            f"env = BrowserEnvironment(BrowserSettings(viewport_width=320, viewport_height=200, start_url={PAY_PAGE!r},"
            " display='headless'))\n"
            f"agent = Agent(env, ReplayBackend([{CLICK!r}], ImageBudget(max_pixels={BUDGET.max_pixels})), "
            "AgentConfig(max_steps=1))\n"
            "agent.run('pay')\nprint('title:', env.page().title())\nenv.close()\n")
    leader, follower = pty.openpty()
    try:
        os.write(leader, b"y\n")  # the person at the terminal says yes, typed ahead
        done = python(code, tmp_path, stdin=follower)
    finally:
        os.close(leader)
        os.close(follower)
    assert done.returncode == 0, done.stderr
    assert "The agent wants to do something risky" in done.stderr and "Pay now" in done.stderr, done.stderr
    assert "title: paid" in done.stdout, done.stdout
