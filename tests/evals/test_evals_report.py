"""The eval summary as printed: whole when stdout is a pipe or a file (a log, CI), not cut to 80 columns."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from tests.support.paths import ROOT


# A summary whose table is wider than 80 columns (a long task name, every column filled), printed by the
# runner's own write_reports into a pipe.
_PRINT = """
import sys
from pathlib import Path
from actions.geometry import ImageBudget
from agent.models.identity import reference_identity
from evals.report import summarize, write_reports
from evals.results import InstanceResult, StepLatency

results = [InstanceResult(instance_id=f"{t}__0", suite="miniwob", task=t, difficulty="hard", index=0, seed=1,
                          agent="oracle", outcome="success", score=1.0, steps=12, max_steps=25,
                          latency=StepLatency(capture=0.123, model=0.456, act=0.789, total=1.368))
           for t in ("email-inbox-forward-nl-turk", "click-checkboxes-transfer")]
summary = summarize("miniwob", "oracle", results, expected=2, model=reference_identity("oracle", ImageBudget()))
write_reports(Path(sys.argv[1]), summary, results)
"""


def test_the_summary_table_is_whole_when_piped(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE")}
    proc = subprocess.run([sys.executable, "-c", _PRINT, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(ROOT)}, timeout=60, check=True)
    out = proc.stdout
    assert "…" not in out, out
    rows = [line for line in out.splitlines() if "email-inbox-forward-nl-turk" in line]
    assert len(rows) == 1 and max(len(line) for line in out.splitlines()) > 80, out
    cells = rows[0].replace("│", " ").split()
    assert cells == ["email-inbox-forward-nl-turk", "1", "1", "0", "0", "100.0%", "12.0", "0.123", "0.456", "0.789"]
    assert "model oracle" in out


def test_log_lines_and_instance_lines_print_above_the_progress_bar() -> None:
    import io
    import threading

    from loguru import logger
    from rich.console import Console

    from agent.logs import stderr_sink
    from evals.report import ProgressView
    from evals.results import InstanceResult
    from tests.support.terminal import screen

    out = io.StringIO()
    sink = logger.add(stderr_sink, format="{time:HH:mm:ss} {level: <7} {message}")
    outcomes = ("success", "failure", "error", "success")
    try:
        with ProgressView(len(outcomes), console=Console(file=out, width=160, force_terminal=True)) as view:

            def worker(k: int, outcome: str) -> None:  # as the runner's workers do: log, then report the result
                logger.info("recording to instances/click-button__{}/episode", k)
                view.finished(InstanceResult(instance_id=f"click-button__{k}", suite="miniwob", task="click-button",
                                             difficulty="easy", index=k, seed=k, agent="oracle", outcome=outcome,
                                             score=1.0 if outcome == "success" else None, steps=2, max_steps=10,
                                             stop_reason="terminate"))

            threads = [threading.Thread(target=worker, args=(k, o)) for k, o in enumerate(outcomes)]
            for t in threads:
                t.start()
                t.join()
    finally:
        logger.remove(sink)
    lines = [line for line in screen(out.getvalue()) if line]
    bar = [line for line in lines if "/4" in line]
    assert bar == [lines[-1]] and "✓ 2 ✗ 1 ! 1" in bar[0] and "4/4" in bar[0], lines
    logs = [line for line in lines if "INFO" in line]
    assert len(logs) == 4 and all(line.split(" ", 1)[1].startswith("INFO    recording to instances/") for line in logs)
    assert "✓ click-button__0 success · score 1.00 · 2/10 steps · terminate" in lines
    assert "✗ click-button__1 failure · 2/10 steps · terminate" in lines
    assert "! click-button__2 error · 2/10 steps · terminate" in lines
