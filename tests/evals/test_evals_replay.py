"""`replay` of an eval episode sets its task up again from the recorded seed and scores the replayed answers,
instead of replaying them on a blank page and echoing the claim the agent made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agent.recording import load_episode


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


def test_an_eval_episode_replays_in_its_task_and_is_scored_again(tmp_path: Path) -> None:
    for agent in ("oracle", "noop"):
        done = cli("eval", "--suite", "miniwob", "--tasks", "click-button", "--n-combinations", "1", "--agent", agent,
                   "--browser-display", "headless", "--out", str(tmp_path / agent), cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
    (oracle,) = (tmp_path / "oracle" / "instances").iterdir()
    done = cli("replay", str(oracle / "episode"), "--browser-display", "headless", "--out", str(tmp_path / "again"),
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "click-button, seed " in done.stdout and ": success (score 1) after 2 steps" in done.stdout, done.stdout
    (replayed,) = (tmp_path / "again").glob("click-button__replay-*/episode")
    header, steps = load_episode(replayed)
    assert header["eval"]["scored"]["outcome"] == "success" and len(steps) == 2
    assert steps[0].extras["url"].startswith("http://127.0.0.1:")  # the task's page, not about:blank

    # noop claimed success at once; scored again in its task, the claim counts for nothing.
    (noop,) = (tmp_path / "noop" / "instances").iterdir()
    done = cli("replay", str(noop / "episode"), "--browser-display", "headless", "--out", str(tmp_path / "noop-again"),
               cwd=tmp_path)
    assert done.returncode == 1 and ": failure (score 0) after 1 steps" in done.stdout, (done.stdout, done.stderr)
