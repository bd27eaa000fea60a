"""The command line as a user runs it: eval with the oracle, the coordinate self-test, doctor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def agent(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    # A wide terminal, so rich's tables keep each row on one line.
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "300"})


def test_eval_with_the_oracle_and_resume(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    done = agent("eval", "--suite", "miniwob", "--tasks", "click-button,enter-text", "--agent", "oracle",
                 "--out", str(out))
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert json.dumps(summary).count("click-button") >= 1
    assert (out / "index.html").is_file()
    # Rerunning into the same folder finds nothing left to do and changes no result.
    before = sorted(p.read_bytes() for p in out.glob("instances/*/result.json"))
    assert agent("eval", "--suite", "miniwob", "--tasks", "click-button,enter-text", "--agent", "oracle",
                 "--out", str(out)).returncode == 0
    assert sorted(p.read_bytes() for p in out.glob("instances/*/result.json")) == before


def test_eval_bad_input_is_one_line() -> None:
    done = agent("eval", "--suite", "nope", "--out", "/tmp/never-written")
    assert done.returncode == 2 and "known suites: miniwob" in done.stderr and "Traceback" not in done.stderr
    assert not Path("/tmp/never-written").exists()


def test_calibration_command_on_the_browser() -> None:
    done = agent("doctor", "--calibrate", "--env", "browser", "--viewport", "800x600", "--device-scale-factor", "2")
    assert done.returncode == 0, done.stderr
    assert "calibration of the browser driver: OK" in done.stdout
    assert "targets hit: 12/12" in done.stdout


def test_doctor_lists_the_parts() -> None:
    done = agent("doctor", "--model", "/no/such/model")
    assert done.returncode == 0
    for part in ("torch", "browser", "adb", "gpu", "model"):
        assert part in done.stdout
    assert "does not exist" in done.stdout
