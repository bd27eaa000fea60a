"""The eval runner: results per instance, resume after an interruption, errors retried, reports, and
clear errors for bad names and damaged folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from loguru import logger

from evals import registry
from evals.instance_log import LOG_FILE
from evals.registry import UnknownSuiteError
from evals.results import RESULT_FILE, InstanceResult, ResultsFolderError
from evals.runner import EvalSettings, run_eval
from tests.support.evals import FAST_BROWSER, CrashingOracleTask, FlakyClickTask, run_one
from tests.support.paths import ROOT


def _results(out: Path) -> dict[str, InstanceResult]:
    return {p.parent.name: InstanceResult.model_validate_json(p.read_text())
            for p in (out / "instances").glob(f"*/{RESULT_FILE}")}


def test_two_workers_record_every_instance_and_report(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    summary = run_eval(EvalSettings(suite="miniwob", out=out, tasks=("click-button", "focus-text"), n_combinations=2,
                                    agent="oracle", workers=2, environment=FAST_BROWSER, progress=False))
    assert summary.overall.instances == 4 and summary.overall.success == 4 and summary.complete
    assert summary.by_task["click-button"].success_rate == 1.0 and summary.by_difficulty["easy"].instances == 4
    assert summary.overall.latency.capture > 0 and summary.overall.mean_steps == 2
    results = _results(out)
    assert sorted(results) == ["click-button__0", "click-button__1", "focus-text__0", "focus-text__1"]
    assert len({r.seed for r in results.values()}) == 4  # each instance has its own seed
    for r in results.values():
        assert (out / r.episode_dir / "episode.json").exists()
    saved = json.loads((out / "summary.json").read_text())
    assert saved["overall"]["success"] == 4
    index = (out / "index.html").read_text()
    assert "instances/click-button__0/episode/report.html" in index


def test_interrupted_run_resumes_with_only_the_remaining_instances(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    tasks = ("click-button", "click-test", "focus-text")
    code = (
        "import sys; from pathlib import Path; from loguru import logger; logger.remove()\n"
        "from evals.runner import EvalSettings, run_eval\n"
        f"run_eval(EvalSettings(suite='miniwob', out=Path({str(out)!r}), tasks={tasks!r}, n_combinations=2,"
        f" agent='oracle', environment={FAST_BROWSER!r}, progress=False))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while len(_results(out)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: the episode in progress finishes, nothing new starts
    output = proc.communicate(timeout=60)[0].decode(errors="replace")
    first = _results(out)
    assert 2 <= len(first) < 6, output
    stamps = {k: r.finished_at for k, r in first.items()}

    summary = run_eval(EvalSettings(suite="miniwob", out=out, tasks=tasks, n_combinations=2, agent="oracle",
                                    environment=FAST_BROWSER, progress=False))
    after = _results(out)
    assert len(after) == 6 and summary.overall.success == 6
    for k, stamp in stamps.items():
        if first[k].outcome != "error":
            assert after[k].finished_at == stamp  # finished instances were not run again
    assert all(r.attempt == 1 or first.get(k, r).outcome == "error" for k, r in after.items())


@pytest.mark.parametrize("signals", [1, 2])
def test_sigterm_during_an_episode_records_it_and_exits_cleanly(tmp_path: Path, signals: int) -> None:
    # Once: the episodes in progress finish; twice: they stop before their next step. Either way each started
    # instance gets its result file and the CLI exits 1; the bug was an exit under running episodes (abort).
    out = tmp_path / "eval"
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "eval", "--suite", "miniwob", "--tasks", "click-button,click-test,focus-text",
         "--n-combinations", "3", "--agent", "oracle", "--workers", "2", "--settle-delay", "0.02", "--out", str(out)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 40
    while not list(out.glob("instances/*/episode/episode.json")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()[1].decode(errors="replace")
    for _ in range(signals):
        proc.send_signal(signal.SIGTERM)
    stderr = proc.communicate(timeout=30)[1].decode(errors="replace")
    assert proc.returncode == 1, stderr
    assert "terminate called" not in stderr and "Aborted" not in stderr and "Traceback" not in stderr, stderr
    started = [p.parent.parent for p in out.glob("instances/*/episode/episode.json")]
    results = _results(out)
    assert started and sorted(p.name for p in started) == sorted(results), stderr
    assert len(results) < 9  # the run stopped early
    for r in results.values():
        assert r.outcome == "success" or (signals == 2 and "interrupted" in (r.error or "")), r


def test_setup_failure_is_an_error_and_is_retried_on_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.SUITES, "test-flaky", "tests.support.evals:FLAKY_SUITE")
    monkeypatch.setattr(FlakyClickTask, "marker_dir", tmp_path)
    out = tmp_path / "eval"
    settings = EvalSettings(suite="test-flaky", out=out, tasks=("flaky-click",), agent="oracle", progress=False)
    first = run_eval(settings)
    assert first.overall.error == 1 and first.overall.success_rate is None and not first.complete
    (r,) = _results(out).values()
    assert r.outcome == "error" and "setup failed" in (r.error or "")
    second = run_eval(settings)
    assert second.overall.success == 1 and second.overall.error == 0
    (r,) = _results(out).values()
    assert r.attempt == 2 and r.outcome == "success"
    assert (out / "instances" / r.instance_id / "attempt-1" / RESULT_FILE).exists()  # the first attempt is kept
    # One log for the instance, not moved with the attempt: the first try's traceback, then the second try.
    log = (out / "instances" / r.instance_id / LOG_FILE).read_text()
    first, second = log.split("attempt 2 of flaky-click__0")
    assert "attempt 1 of flaky-click__0" in first and "setup of flaky-click failed" in first
    assert "Traceback" in first and "TaskSetupError: the test's first setup fails on purpose" in first
    assert "Traceback" not in second and "episode ended: terminate" in second
    assert not (out / "instances" / r.instance_id / "attempt-1" / LOG_FILE).exists()


def test_a_crashing_worker_instance_is_recorded_and_the_others_go_on(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.SUITES, "test-flaky", "tests.support.evals:FLAKY_SUITE")
    monkeypatch.setattr(FlakyClickTask, "marker_dir", tmp_path)
    (tmp_path / "failed-once").touch()  # the click task's setup works from the start here
    out = tmp_path / "eval"
    summary = run_eval(EvalSettings(suite="test-flaky", out=out, agent="oracle", workers=2, n_combinations=2,
                                    progress=False))
    results = _results(out)
    assert summary.overall.instances == 4 and summary.overall.success == 2 and summary.overall.error == 2
    for k, r in results.items():
        if k.startswith("broken-environment"):
            assert r.outcome == "error" and "broken on purpose" in (r.error or "")


def test_a_crashing_oracle_script_is_an_error_not_a_failure(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FlakyClickTask, "marker_dir", tmp_path)
    env = CrashingOracleTask.create_environment({})
    try:
        r = run_one(CrashingOracleTask, 0, env, "oracle", tmp_path / "out")
    finally:
        env.close()
    assert r.outcome == "error" and r.score is None and r.steps == 2, r
    assert "the oracle script of crashing-oracle crashed (LookupError: no #submit on the page)" in r.error


def test_a_broken_oracle_or_score_is_an_error_with_its_traceback_in_the_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The console gets one line per error instance; the result keeps a one-line reason; the instance's log
    # keeps the traceback. Neither is the agent's failure: no score, counted apart, retried by a rerun.
    monkeypatch.setitem(registry.SUITES, "test-broken", "tests.support.evals:BROKEN_SUITE")
    monkeypatch.setattr(FlakyClickTask, "marker_dir", tmp_path)
    console: list[str] = []
    sink = logger.add(console.append, level="INFO", format="{message}")
    out = tmp_path / "eval"
    try:
        summary = run_eval(EvalSettings(suite="test-broken", out=out, agent="oracle", progress=False))
    finally:
        logger.remove(sink)
    assert summary.overall.error == 2 and summary.overall.failure == 0 and summary.overall.success_rate is None
    results = _results(out)
    expected = {
        "crashing-oracle__0": ("the oracle script of crashing-oracle crashed (LookupError: no #submit on the page)",
                               'raise LookupError("no #submit on the page")'),
        "broken-score__0": ("scoring failed: KeyError: 'reward'", 'return {"clicked": 1.0}["reward"]'),
    }
    for iid, (reason, line) in expected.items():
        r = results[iid]
        assert r.outcome == "error" and r.score is None and reason in (r.error or "") and "\n" not in r.error, r
        log = (out / "instances" / iid / LOG_FILE).read_text()
        assert "Traceback" in log and line in log, log
        (said,) = [m for m in console if m.startswith(iid)]
        assert reason in said and str(out / "instances" / iid / LOG_FILE) in said and "Traceback" not in said
    assert not any("Traceback" in m for m in console)
    # A rerun retries them, and the log keeps both tries' tracebacks.
    run_eval(EvalSettings(suite="test-broken", out=out, agent="oracle", progress=False))
    log = (out / "instances" / "broken-score__0" / LOG_FILE).read_text()
    assert _results(out)["broken-score__0"].attempt == 2 and log.count("KeyError: 'reward'") == 2


def test_an_oracle_that_raises_before_its_first_action_is_an_error(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def no_script(self: CrashingOracleTask, env: object) -> None:
        raise ValueError("the page has no form\n(and a second line the result leaves out)")

    monkeypatch.setattr(FlakyClickTask, "marker_dir", tmp_path)
    monkeypatch.setattr(CrashingOracleTask, "oracle", no_script)
    env = CrashingOracleTask.create_environment({})
    try:
        r = run_one(CrashingOracleTask, 0, env, "oracle", tmp_path / "out")
    finally:
        env.close()
    assert r.outcome == "error" and r.score is None, r
    assert r.error == ("episode error: the oracle script of crashing-oracle crashed (ValueError: the page has no "
                       "form); the instance is an error, not a failure of an agent")


def test_noop_through_the_runner_scores_zero(tmp_path: Path) -> None:
    summary = run_eval(EvalSettings(suite="miniwob", out=tmp_path / "e", tasks=("click-test",), agent="noop",
                                    environment=FAST_BROWSER, progress=False))
    assert summary.overall.failure == 1 and summary.overall.success_rate == 0.0


def test_unknown_suite_and_task_names(tmp_path: Path) -> None:
    with pytest.raises(UnknownSuiteError, match="miniwob"):
        run_eval(EvalSettings(suite="minwob", out=tmp_path / "a", agent="noop", progress=False))
    with pytest.raises(UnknownSuiteError, match="click-button"):
        run_eval(EvalSettings(suite="miniwob", out=tmp_path / "a", tasks=("clik-button",), agent="noop",
                              progress=False))
    assert not (tmp_path / "a").exists()  # nothing was created for a run that could not start


def test_damaged_or_foreign_folders_are_refused_untouched(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ResultsFolderError, match="not empty"):
        run_eval(EvalSettings(suite="miniwob", out=foreign, tasks=("click-test",), agent="noop", progress=False))
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]

    out = tmp_path / "eval"
    run_eval(EvalSettings(suite="miniwob", out=out, tasks=("click-test",), agent="noop",
                          environment=FAST_BROWSER, progress=False))
    with pytest.raises(ResultsFolderError, match="agent"):
        run_eval(EvalSettings(suite="miniwob", out=out, tasks=("click-test",), agent="oracle", progress=False))
    damaged = out / "instances" / "click-test__0" / RESULT_FILE
    damaged.write_text("{not json")
    with pytest.raises(ResultsFolderError, match="click-test__0"):
        run_eval(EvalSettings(suite="miniwob", out=out, tasks=("click-test",), agent="noop", progress=False))
    assert damaged.read_text() == "{not json"
