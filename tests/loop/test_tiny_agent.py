"""The tiny random-weight Qwen2.5-VL drives the real loop on headless Chromium, in-process and from the CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

from agent.config import AgentConfig
from agent.loop import Agent
from agent.models.settings import ModelSettings
from agent.models.transformers_backend import TransformersBackend
from agent.recording import load_episode
from environments.browser.driver import BrowserEnvironment, BrowserSettings

PAGE = "<!doctype html><body style='margin:0'><button style='width:200px;height:80px'>A</button><input></body>"
START_URL = "data:text/html," + urllib.parse.quote(PAGE)
# Small screenshots keep the vision tower cheap on the CPU; long answers are possible with random weights.
SETTINGS = dict(max_pixels=40_000, max_new_tokens=700)


def test_tiny_model_drives_the_loop(tiny_model_dir: Path, tmp_path: Path) -> None:
    # Many weight seeds and screen sizes are covered in test_models; here one episode goes through every part.
    backend = TransformersBackend(ModelSettings(model=str(tiny_model_dir), **SETTINGS))
    env = BrowserEnvironment(BrowserSettings(viewport_width=320, viewport_height=200, start_url=START_URL,
                                             navigation_timeout=3))
    try:
        result = Agent(env, backend, AgentConfig(max_steps=3, retries_on_bad_answer=0)).run("press it", tmp_path / "ep")
        # Our engine answered (its cache holds the last step), and from the second step on it reused the prompt's start.
        assert backend.engine.cached_tokens > 0
        assert result.steps < 2 or backend.last_timings.reused_tokens > 0
    finally:
        env.close()
        backend.close()
    header, steps = load_episode(tmp_path / "ep")
    assert result.stop_reason in ("terminate", "answer", "max_steps", "stuck"), result
    assert header["result"]["stop_reason"] == result.stop_reason
    assert len(steps) == result.steps >= 1
    for step in steps:
        # Constrained decoding: every answer parses into an action of the browser space, on the image.
        assert step.attempts[0].error is None, step.attempts[0]
        assert step.action is not None and step.mapped_action is not None
        assert step.executed or step.error or step.action["action"] in ("terminate", "answer")
        assert (tmp_path / "ep" / step.screenshot).is_file()
        assert step.timings.model > 0 and step.attempts[0].new_tokens
    assert (tmp_path / "ep" / "report.html").is_file()


def test_cli_run_with_the_tiny_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    # The README's main command, with the tiny checkpoint standing in for real weights, on transformers' generate.
    done = subprocess.run(
        [sys.executable, "-m", "agent", "--debug", "run", "press the button", "--env", "browser", "--model",
         str(tiny_model_dir), "--start-url", START_URL, "--viewport", "320x200", "--max-steps", "2",
         "--max-pixels", "40000", "--max-new-tokens", "700", "--engine", "generate", "--out", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "AGENT_CONFIRM": "allow"},
    )
    assert done.returncode in (0, 1), done.stderr
    (episode,) = (tmp_path / "runs").iterdir()
    header, steps = load_episode(episode)
    assert header["result"] is not None and 1 <= len(steps) <= 2
    assert "recording:" in done.stderr  # where the steps' time went, below:
    assert re.search(r"per step(?: after the first)?: \d+ ms; model", done.stderr), done.stderr[-2000:]
    assert "static KV cache" not in done.stderr  # --engine generate reached the backend


def test_an_answer_cut_by_max_new_tokens_is_not_acted_on(tiny_model_dir: Path, tmp_path: Path) -> None:
    # The real backend runs out of tokens inside the call: the loop quotes the cut back and acts on nothing.
    backend = TransformersBackend(ModelSettings(model=str(tiny_model_dir), max_pixels=40_000, max_new_tokens=12))
    env = BrowserEnvironment(BrowserSettings(viewport_width=320, viewport_height=200, start_url=START_URL,
                                             navigation_timeout=3))
    try:
        Agent(env, backend, AgentConfig(max_steps=1, retries_on_bad_answer=1)).run("press it", tmp_path / "ep")
    finally:
        env.close()
        backend.close()
    _, (step,) = load_episode(tmp_path / "ep")
    assert [a.finish for a in step.attempts] == ["length", "length"]
    assert all(a.error.startswith("the answer was cut off at the limit of 12 new tokens") for a in step.attempts)
    assert step.action is None and not step.executed
