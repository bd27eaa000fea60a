"""Summaries of an eval: success per task and per difficulty, steps, step latency; a table, JSON and HTML."""

from __future__ import annotations

import html
import os
import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from agent.models.identity import ModelIdentity
from agent.recording import write_json_atomic, write_text_atomic
from evals.results import InstanceResult, StepLatency

SUMMARY_FILE = "summary.json"
INDEX_FILE = "index.html"


class GroupStats(BaseModel):
    """Counts over a group of instances. success_rate = success / (success + failure): instances that
    ended in error (setup failed, crash) are not the agent's doing and are counted apart."""

    instances: int = 0
    success: int = 0
    failure: int = 0
    error: int = 0
    success_rate: float | None = None
    mean_score: float | None = None
    mean_steps: float | None = None
    latency: StepLatency = Field(default_factory=StepLatency)


class EvalSummary(BaseModel):
    suite: str
    agent: str
    # None only in summaries written before results named their model.
    model: ModelIdentity | None = None
    expected: int  # instances planned; fewer results means the run was cut short
    overall: GroupStats
    by_task: dict[str, GroupStats]
    by_difficulty: dict[str, GroupStats]

    @property
    def complete(self) -> bool:
        return self.overall.instances == self.expected and self.overall.error == 0


def _stats(results: list[InstanceResult]) -> GroupStats:
    counts = Counter(r.outcome for r in results)
    judged = [r for r in results if r.outcome != "error"]
    ran = [r for r in results if r.steps > 0]

    def mean(values: Iterable[float]) -> float | None:
        v = list(values)
        return sum(v) / len(v) if v else None

    latency = StepLatency(**{k: mean(getattr(r.latency, k) for r in ran) or 0.0 for k in StepLatency.model_fields})
    return GroupStats(
        instances=len(results), success=counts["success"], failure=counts["failure"], error=counts["error"],
        success_rate=counts["success"] / len(judged) if judged else None,
        mean_score=mean(r.score for r in judged if r.score is not None),
        mean_steps=mean(r.steps for r in judged), latency=latency,
    )


def summarize(suite: str, agent: str, results: list[InstanceResult], expected: int,
              model: ModelIdentity | None = None) -> EvalSummary:
    by_task: dict[str, list[InstanceResult]] = {}
    by_diff: dict[str, list[InstanceResult]] = {}
    for r in results:
        by_task.setdefault(r.task, []).append(r)
        by_diff.setdefault(r.difficulty, []).append(r)
    order = {"easy": 0, "medium": 1, "hard": 2}
    return EvalSummary(
        suite=suite, agent=agent, model=model, expected=expected, overall=_stats(results),
        by_task={k: _stats(v) for k, v in sorted(by_task.items())},
        by_difficulty={k: _stats(by_diff[k]) for k in sorted(by_diff, key=lambda d: order.get(d, 9))},
    )


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _num(v: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def summary_table(summary: EvalSummary) -> Table:
    model = f"\nmodel {summary.model.short()}" if summary.model else ""
    t = Table(caption="rate: success / (success + failure); capture, model, act: mean seconds per step",
              title=f"{summary.suite} · agent {summary.agent} · {summary.overall.instances}/{summary.expected} "
                    f"instances{model}")
    t.add_column("task", no_wrap=True, min_width=12)
    for col in ("n", "ok", "fail", "err", "rate", "steps", "capture", "model", "act"):
        t.add_column(col, justify="right")
    rows = [*summary.by_task.items(), *((f"all {k}", v) for k, v in summary.by_difficulty.items()),
            ("ALL", summary.overall)]
    for i, (name, s) in enumerate(rows):
        t.add_row(name, str(s.instances), str(s.success), str(s.failure), str(s.error), _pct(s.success_rate),
                  _num(s.mean_steps), _num(s.latency.capture, "{:.3f}"), _num(s.latency.model, "{:.3f}"),
                  _num(s.latency.act, "{:.3f}"), end_section=i in (len(summary.by_task) - 1, len(rows) - 2))
    return t


def write_reports(root: Path, summary: EvalSummary, results: list[InstanceResult], print_table: bool = True) -> None:
    write_json_atomic(root / SUMMARY_FILE, summary.model_dump(mode="json"))
    write_text_atomic(root / INDEX_FILE, render_index(summary, results))
    if print_table:
        console = report_console()
        console.print(summary_table(summary))
        console.print(f"results: {root / SUMMARY_FILE} · report: {root / INDEX_FILE}")


# Wide enough for any summary row: outside a terminal nothing is cut or wrapped.
_UNBOUNDED_COLUMNS = 1000


def report_console() -> Console:
    """Where the summary is printed. Outside a terminal (a log file, CI) rich assumes 80 columns and cuts the
    cells that do not fit ("100.0%" printed as "10…"); there the table gets all the width it needs."""
    console = Console()
    return console if console.is_terminal else Console(width=_UNBOUNDED_COLUMNS)


_CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:12px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
.success{color:#0a7a2f}.failure{color:#b00020}.error{color:#a66a00}td.goal{text-align:left;max-width:40em}"""


def render_index(summary: EvalSummary, results: list[InstanceResult]) -> str:
    e = html.escape
    head = ("<tr><th>group</th><th>n</th><th>success</th><th>failure</th><th>error</th><th>success rate</th>"
            "<th>mean steps</th><th>capture s</th><th>model s</th><th>act s</th></tr>")

    def row(name: str, s: GroupStats) -> str:
        cells = [s.instances, s.success, s.failure, s.error, _pct(s.success_rate), _num(s.mean_steps),
                 _num(s.latency.capture, "{:.3f}"), _num(s.latency.model, "{:.3f}"), _num(s.latency.act, "{:.3f}")]
        return f"<tr><td>{e(name)}</td>" + "".join(f"<td>{e(str(c))}</td>" for c in cells) + "</tr>"

    groups = [row(k, v) for k, v in summary.by_task.items()]
    groups += [row(f"all {k}", v) for k, v in summary.by_difficulty.items()] + [row("ALL", summary.overall)]
    inst = []
    for r in sorted(results, key=lambda r: (r.task, r.index)):
        link = f"<a href='{e(Path(r.episode_dir, 'report.html').as_posix())}'>episode</a>" if r.episode_dir else ""
        inst.append(
            f"<tr><td>{e(r.instance_id)}</td><td class='{r.outcome}'>{r.outcome}</td><td>{_num(r.score, '{:.2f}')}</td>"
            f"<td>{r.steps}/{r.max_steps}</td><td>{e(r.stop_reason or '')}</td><td class='goal'>{e(r.goal or '')}"
            f"{'<br><i>' + e(r.error) + '</i>' if r.error else ''}</td><td>{link}</td></tr>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(summary.suite)} eval</title>"
            f"<style>{_CSS}</style></head><body><h1>{e(summary.suite)} · agent {e(summary.agent)}</h1>{_model_html(summary)}"
            f"<p>{summary.overall.instances} of {summary.expected} instances recorded. Success: the agent stopped by "
            "itself within the step budget and the score read from the environment reached 1. Success rate leaves "
            f"out instances that ended in error.</p><table>{head}{''.join(groups)}</table>"
            "<h2>Instances</h2><table><tr><th>instance</th><th>outcome</th><th>score</th><th>steps</th>"
            f"<th>stop</th><th>goal</th><th></th></tr>{''.join(inst)}</table></body></html>")


def _model_html(summary: EvalSummary) -> str:
    m = summary.model
    if m is None:
        return "<p>The summary does not say which model produced it (written before results named their model).</p>"
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
                   for k, v in m.model_dump().items() if v is not None)
    return f"<h2>Model</h2><table>{rows}</table>"


class ProgressView:
    """A rich progress bar on stderr counting outcomes, and a line per finished instance above it; safe to update
    from worker threads. While the bar is shown, rich puts a proxy in sys.stderr that prints each line above
    it, so log lines written to sys.stderr (the command line's sink does) do not run into the bar."""

    MARKS = {"success": "[green]✓[/]", "failure": "[red]✗[/]", "error": "[yellow]![/]"}

    def __init__(self, total: int, enabled: bool = True, console: Console | None = None) -> None:
        self.enabled = enabled and total > 0
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TimeElapsedColumn(), disable=not self.enabled,
                                  transient=False, console=console or Console(stderr=True))
        self._bar = self._progress.add_task(self._describe(), total=total)

    def _describe(self) -> str:
        c = self.counts
        return f"[green]✓ {c['success']}[/] [red]✗ {c['failure']}[/] [yellow]! {c['error']}[/]"

    def __enter__(self) -> ProgressView:
        if self.enabled and os.environ.get("TERM") != "dumb":
            self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.stop()

    def finished(self, result: InstanceResult) -> None:
        with self._lock:
            self.counts[result.outcome] += 1
            if self.enabled:
                score = "" if result.score is None else f" · score {result.score:.2f}"
                self._progress.console.print(
                    f"{self.MARKS[result.outcome]} {escape(result.instance_id)} {result.outcome}{score} · "
                    f"{result.steps}/{result.max_steps} steps · {escape(result.stop_reason or 'not run')}",
                    markup=True, highlight=False, soft_wrap=True)
            self._progress.update(self._bar, advance=1, description=self._describe())
