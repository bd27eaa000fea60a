"""The README's first command, as written there, reaches the shipped flight site and records steps, with the
tiny model standing where scripts/install.sh links one on a machine that cannot fetch real weights."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from agent.recording import load_episode
from tests.support.paths import ROOT

README = ROOT / "README.md"


def first_run_command() -> list[str]:
    block = re.search(r"```bash\n# 1\.[^\n]*\n([^\n]+)\n", README.read_text(encoding="utf-8"))
    assert block, "the README's first block must start with '# 1.' and the command"
    install, run = block.group(1).split(" && ")
    assert install == "bash scripts/install.sh"
    words = shlex.split(run)
    assert words[:4] == ["python", "-m", "agent", "run"], words
    return [sys.executable, *words[1:]]


def test_the_readme_first_command_books_on_the_local_site_with_the_default_model(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "default").symlink_to(tiny_model_dir)  # what install.sh links when offline
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_")}
    # Variables, so the command runs exactly as the README writes it: a short run into this test's folder.
    env.update(AGENT_MAX_STEPS="2", AGENT_OUT=str(tmp_path / "runs"), AGENT_MAX_PIXELS="200000")
    done = subprocess.run(first_run_command(), cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "using models/default = the tiny random-weight model" in done.stderr
    (episode,) = (tmp_path / "runs").iterdir()
    header, steps = load_episode(episode)
    assert header["result"] is not None and 1 <= len(steps) <= 2
    assert steps[0].extras["title"] == "Skylark Air: book a flight"
    assert steps[0].extras["url"].startswith("http://127.0.0.1:")
    assert (episode / steps[0].screenshot).is_file() and (episode / "report.html").is_file()
