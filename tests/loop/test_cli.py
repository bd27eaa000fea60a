"""The command line as a user runs it: eval with the oracle, replay, bad flags, signals (Ctrl-C in a terminal
too), the coordinate self-test, doctor."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from agent.recording import EPISODE_FILE, STEPS_FILE
from agent.trajectory import Attempt, StepRecord
from tests.support.terminal import helpers, run_in_terminal, screen
from tests.support.paths import ROOT

START_URL = "data:text/html," + urllib.parse.quote("<body style='margin:0'><p>nothing to do</p></body>")


def agent(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # A wide terminal, so rich's tables keep each row on one line.
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "300", **(env or {})})


def wait_call(seconds: float) -> str:
    return '<tool_call>\n{"name": "computer_use", "arguments": {"action": "wait", "time": %s}}\n</tool_call>' % seconds


def answers_only(folder: Path, texts: list[str]) -> Path:
    """An episode folder holding only what replay needs: the task and one model answer per step."""
    folder.mkdir(parents=True)
    (folder / EPISODE_FILE).write_text(json.dumps({"task": "wait a little", "result": None}))
    steps = [StepRecord(index=i, screenshot="", screen={"width": 1, "height": 1}, model_image=(1, 1), messages=[],
                        attempts=[Attempt(raw_text=text)]) for i, text in enumerate(texts, 1)]
    (folder / STEPS_FILE).write_text("".join(step.model_dump_json() + "\n" for step in steps))
    return folder


def only_episode(out: Path) -> tuple[Path, dict]:
    (episode,) = out.iterdir()
    return episode, json.loads((episode / EPISODE_FILE).read_text())


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


def test_a_reader_that_stops_early_is_not_a_bug() -> None:
    """`python -m agent eval --list | head -1`: the pipe's reader is gone before anything is written."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "agent", "eval", "--suite", "miniwob", "--list"], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert done.returncode == 1 and done.stderr == "", done.stderr


@pytest.mark.parametrize("header", [{"result": None}, ["task"], {"task": 3}])
def test_a_damaged_recording_is_one_line_naming_it(tmp_path: Path, header: object) -> None:
    folder = answers_only(tmp_path / "ep", [wait_call(0)])
    (folder / EPISODE_FILE).write_text(json.dumps(header))
    for command in ("replay", "report"):
        done = agent(command, str(folder), "--out", str(tmp_path / "runs")) if command == "replay" else \
            agent(command, str(folder))
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.strip().endswith("is not an episode header (a JSON object with the task's text as "
                                            '"task"); the folder is damaged or not one the agent wrote')


def test_a_bug_is_not_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from agent import cli

    def broken(_: object) -> int:
        local_value = "hunter22"
        return {}[local_value[:0] + "task"]  # a bug of ours: a KeyError

    monkeypatch.setitem(cli.COMMANDS, "report", broken)
    assert cli.main(["report", str(tmp_path)]) == cli.EXIT_BUG == 3
    err = capsys.readouterr().err
    # Its traceback, without the values of local variables (they can hold a secret), and a line saying what it is.
    assert "Traceback" in err and "KeyError: 'task'" in err and "hunter22" not in err
    assert err.strip().splitlines()[-1] == ("error: internal error (KeyError: 'task'); this is a bug in "
                                            "qwen-gui-agent, please report it with the traceback above")


def test_calibration_command_on_the_browser() -> None:
    done = agent("doctor", "--calibrate", "--env", "browser", "--viewport", "800x600", "--device-scale-factor", "2")
    assert done.returncode == 0, done.stderr
    assert "calibration of the browser driver: OK" in done.stdout
    assert "targets hit: 12/12" in done.stdout


def doctor_rows(stdout: str) -> dict[str, tuple[str, str]]:
    """doctor's table as part -> (usable, details), one row per line at a wide terminal."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 3 and cells[0] != "part":
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def test_doctor_says_what_it_found_and_what_is_missing() -> None:
    rows = doctor_rows(agent("doctor", "--model", "/no/such/model").stdout)
    assert rows["browser"] == ("yes", str(Path(shutil.which("chromium") or "no chromium on PATH"))), rows
    assert rows["adb"][0] == "yes" and rows["python: playwright"] == ("yes", "installed"), rows
    assert rows["model"][0] == "no" and "does not exist" in rows["model"][1], rows
    # With only Python on PATH, the same machine has no Chromium and no adb, and doctor says so with the fix.
    bare = doctor_rows(agent("doctor", env={"PATH": str(Path(sys.executable).parent)}).stdout)
    assert bare["browser"][0] == "no" and "scripts/install.sh" in bare["browser"][1], bare
    assert bare["adb"][0] == "no" and "model" not in bare, bare


def test_replay_takes_its_settings_from_the_recording(tmp_path: Path) -> None:
    # A first replay with flags records an episode that ends at its step limit, as `run` would have.
    source = answers_only(tmp_path / "answers", [wait_call(0)] * 2)
    first = agent("replay", str(source), "--max-steps", "2", "--history-images", "2", "--viewport", "400x300",
                  "--start-url", START_URL, "--settle-delay", "0", "--out", str(tmp_path / "first"))
    assert first.returncode == 1, first.stderr
    recorded, header = only_episode(tmp_path / "first")
    assert header["result"]["stop_reason"] == "max_steps"
    # Replaying that recording with no flags uses its settings, so it ends the same way, not out of answers.
    again = agent("replay", str(recorded), "--out", str(tmp_path / "again"))
    assert again.returncode == 1, again.stderr
    replayed, header = only_episode(tmp_path / "again")
    assert (header["result"]["stop_reason"], header["result"]["steps"]) == ("max_steps", 2), header["result"]
    assert header["config"]["max_steps"] == 2 and header["config"]["history_images"] == 2
    assert header["environment_settings"] == {"start_url": START_URL, "viewport": [400, 300], "settle_delay": 0.0}
    steps = [json.loads(line) for line in (replayed / STEPS_FILE).read_text().splitlines()]
    assert {s["screen"]["width"] for s in steps} == {400.0}
    assert [sum(part["type"] == "image" for m in s["messages"] for part in m["content"]) for s in steps] == [1, 2]
    # A flag still wins; answers running out is the end of the replay, not an error.
    longer = agent("replay", str(recorded), "--max-steps", "3", "--out", str(tmp_path / "longer"))
    assert longer.returncode == 1, longer.stderr
    _, header = only_episode(tmp_path / "longer")
    assert header["result"]["stop_reason"] == "interrupted", header["result"]
    assert header["result"]["error"] == "replay finished: all 2 recorded answers were replayed"


@pytest.mark.parametrize(("flags", "expected"), [
    (["--max-steps", "0"], ["error: --max-steps: Input should be greater than or equal to 1, got 0"]),
    (["--history-images", "0"], ["error: --history-images: Input should be greater than or equal to 1, got 0"]),
    (["--settle-delay", "-1"], ["error: --settle-delay: Input should be greater than or equal to 0, got -1.0"]),
    (["--viewport", "10x10"], ["error: --viewport (viewport_width): Input should be greater than or equal to 64, got 10",
                               "error: --viewport (viewport_height): Input should be greater than or equal to 64, "
                               "got 10"]),
])
def test_a_bad_flag_value_is_one_line_naming_the_flag(tmp_path: Path, flags: list[str], expected: list[str]) -> None:
    done = agent("run", "open the settings", *flags, "--model", "/no/such/model", "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert [line for line in done.stderr.splitlines() if line.startswith("error")] == expected, done.stderr
    assert "validation error" not in done.stderr and "pydantic" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_bad_value_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    done = agent("run", "open the settings", "--out", str(tmp_path / "out"), env={"AGENT_MAX_STEPS": "0"})
    assert done.returncode == 2
    assert "error: AGENT_MAX_STEPS (--max-steps): Input should be greater than or equal to 1, got 0" in done.stderr


def test_sigterm_ends_the_episode_as_interrupted_with_its_recording(tmp_path: Path) -> None:
    source = answers_only(tmp_path / "answers", [wait_call(1)] * 30)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "agent", "replay", str(source), "--max-steps", "30",
                             "--start-url", START_URL, "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        steps = list(out.glob(f"*/{STEPS_FILE}"))
        if steps and steps[0].read_text().strip():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # what `timeout` and `docker stop` send
    stderr = proc.communicate(timeout=60)[1]
    assert proc.returncode == 1, stderr
    episode, header = only_episode(out)
    assert header["result"]["stop_reason"] == "interrupted", stderr
    assert 1 <= header["result"]["steps"] < 30 and (episode / "report.html").is_file()


def test_headed_without_a_display_fails_before_anything_starts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    for command in (["run", "open the settings", "--model", "/no/such/model"], ["eval", "--suite", "miniwob",
                                                                                  "--agent", "noop"]):
        done = subprocess.run([sys.executable, "-m", "agent", *command, "--headed", "--out", str(tmp_path / "out")],
                              capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 2, done.stderr
        (line,) = [line for line in done.stderr.splitlines() if line.startswith("error")]
        assert "DISPLAY is not set" in line and "virtual display" in line
        assert not (tmp_path / "out").exists()


def test_replay_keeps_a_dry_run_dry_and_finds_the_environment_of_an_eval_recording(tmp_path: Path) -> None:
    click = '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [5, 5]}}\n</tool_call>'
    source = answers_only(tmp_path / "dry", [click])
    header = json.loads((source / EPISODE_FILE).read_text())
    (source / EPISODE_FILE).write_text(json.dumps({**header, "config": {"dry_run": True, "max_steps": 1}}))
    done = agent("replay", str(source), "--start-url", START_URL, "--out", str(tmp_path / "out"))
    replayed, header = only_episode(tmp_path / "out")
    assert header["config"]["dry_run"] is True, done.stderr
    assert [json.loads(line)["executed"] for line in (replayed / STEPS_FILE).read_text().splitlines()] == [False]
    # An eval's recording names its action space, not its environment: the computer space is the desktop's.
    (source / EPISODE_FILE).write_text(json.dumps({**header, "environment": None, "action_space": "computer"}))
    done = agent("replay", str(source), "--out", str(tmp_path / "desktop"), env={"DISPLAY": ""})
    assert "no X display" in done.stderr, done.stderr  # the desktop driver was the one started


def test_a_task_that_is_not_utf8_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    # Undecodable bytes on the command line (a Latin-1 terminal) reach Python as lone surrogates.
    done = agent("run", "caf\udce9 au lait", "--model", "/no/such/model", "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "not valid UTF-8" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


def test_ctrl_c_in_a_terminal_ends_the_episode_and_leaves_a_clean_screen(tmp_path: Path) -> None:
    # A terminal's Ctrl-C goes to its whole foreground process group: the helpers (Playwright's driver,
    # Chromium, Xvfb) must be out of it, so that only the agent hears it and closes them itself.
    # Waits of two lengths: the same action three times on an unchanged screen would end the episode as stuck.
    source = answers_only(tmp_path / "answers", [wait_call(0.5 + i % 2 / 10) for i in range(30)])
    out = tmp_path / "out"
    seen: dict[int, tuple[str, int]] = {}

    def after_two_steps(output: str, pid: int) -> bool:
        if 'step 2/30 {"action"' not in output:  # its step line
            return False
        seen.update(helpers(pid))
        return True

    code, output = run_in_terminal([sys.executable, "-m", "agent", "replay", str(source), "--max-steps", "30",
                                    "--start-url", START_URL, "--out", str(out)], ROOT, dict(os.environ),
                                   after_two_steps)
    assert code == 1, output
    episode, header = only_episode(out)
    assert header["result"]["stop_reason"] == "interrupted", output
    assert header["result"]["error"] == "stopped by the user (Ctrl-C or SIGTERM)" and (episode / "report.html").is_file()
    names = [name for name, _ in seen.values()]
    assert "chromium" in names and "Xvfb" in names and any(n.startswith("node") for n in names), seen
    agent_session = {sid for name, sid in seen.values() if name.startswith("python")} | {os.getsid(0)}
    assert not [p for p, (name, sid) in seen.items() if sid in agent_session and not name.startswith("python")], seen
    assert "step 2/30: model thinking" in output  # the status line
    assert "Future exception" not in output and "Traceback" not in output, output
    final = [line for line in screen(output) if line]
    assert not [line for line in final if "model thinking" in line or "looking at the screen" in line], final
    assert final[-3].startswith("interrupted after") and final[-1].startswith("recording: "), final


def test_ctrl_c_in_a_terminal_during_eval_finishes_the_episode_and_writes_the_summary(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    code, output = run_in_terminal(
        [sys.executable, "-m", "agent", "eval", "--suite", "miniwob", "--tasks", "click-button,enter-text,focus-text",
         "--agent", "oracle", "--settle-delay", "0.02", "--out", str(out)],
        ROOT, dict(os.environ), lambda output, pid: "recording to" in output)
    assert code == 1, output
    results = [json.loads(p.read_text()) for p in out.glob("instances/*/result.json")]
    # The episode in progress ended as it would have: the browser was still there to finish it.
    assert results and all(r["outcome"] == "success" for r in results), output
    assert len(results) < 3 and (out / "summary.json").is_file() and (out / "index.html").is_file()
    assert "Future exception" not in output and "Traceback" not in output, output
    lines = [line for line in screen(output) if line]
    assert "✓ click-button__0 success · score 1.00 · 2/" in "\n".join(lines), lines
    # Every log line is a line of its own: none was written into the progress bar's line.
    assert not [line for line in lines if " INFO " in line and not line[:8].replace(":", "").isdigit()], lines
    assert any("interrupted: finishing the episodes in progress" in line for line in lines), lines
