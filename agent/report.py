"""A self-contained HTML report of one episode: opens offline from the folder, no server.

Each step shows its screenshot with the action drawn over it (an SVG layer in the screenshot's own pixel
space, lying exactly on the image), the model's text, the parsed and mapped action, the safety verdict and who
decided, errors and timings. An eval episode also shows the instance's scored outcome, read from the real state,
beside the agent's own claim. One small inline script moves between steps with the keyboard (j/k).
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path
from typing import Any

from actions.geometry import CoordinateMapper
from agent.recording import load_episode, write_text_atomic
from agent.trajectory import StepRecord, Timings

REPORT_FILE = "report.html"
# Where an eval puts its verdict in episode.json: header["eval"][SCORED_KEY] = {"outcome", "score", "error"}.
SCORED_KEY = "scored"
# Share of the window's height a screenshot may take, so a tall phone screen fits on one view.
_MAX_SHOT_HEIGHT_VH = 85


def _asset(name: str) -> str:
    return resources.files("agent").joinpath("report_assets", name).read_text(encoding="utf-8")


def write_report(directory: Path) -> Path:
    """(Re)build report.html in an episode folder from its episode.json and steps.jsonl."""
    directory = Path(directory)
    header, steps = load_episode(directory)
    path = directory / REPORT_FILE
    write_text_atomic(path, render_report(header, steps))
    return path


def render_report(header: dict[str, Any], steps: list[StepRecord]) -> str:
    claim = _claim(header.get("result") or {})
    scored = _scored(header)
    outcome = (f"scored {scored} · the agent's claim: {_e(claim)}" if scored
               else f"outcome <b>{_e(claim)}</b>")
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{_e(header.get('task', 'episode'))}</title><style>{_asset('report.css')}</style></head><body>",
        f"<h1>{_e(header.get('task', ''))}</h1>",
        f"<div class='meta'>model {_e(header.get('model', '?'))} · space {_e(header.get('action_space', '?'))}"
        f" · {len(steps)} steps · {outcome}</div>",
        f"<div class='meta'>{_e(Timings.episode_summary([s.timings for s in steps]))}</div>" if steps else "",
        "<div class='meta'>keys: <kbd>j</kbd> or <kbd>→</kbd> next step, <kbd>k</kbd> or <kbd>←</kbd> previous</div>"
        if steps else "",
    ]
    parts += [_step_html(s, scored if s is steps[-1] else "") for s in steps]
    parts.append(f"<script>{_asset('report.js')}</script></body></html>")
    return "\n".join(parts)


def _claim(result: dict[str, Any]) -> str:
    """How the episode ended, as the agent (or the loop that stopped it) tells it."""
    claim = result.get("stop_reason", "running or crashed")
    if result.get("status"):
        claim += f" ({result['status']})"
    if result.get("answer"):
        claim += f": {result['answer']}"
    if result.get("error"):
        claim += f": {result['error']}"
    return claim


def _scored(header: dict[str, Any]) -> str:
    """An eval instance's outcome as scored from the environment's state, as HTML; "" when there is none."""
    scored = (header.get("eval") or {}).get(SCORED_KEY)
    if not isinstance(scored, dict) or not scored.get("outcome"):
        return ""
    outcome = str(scored["outcome"])
    text = outcome + (f" (score {scored['score']:g})" if isinstance(scored.get("score"), int | float) else "")
    if scored.get("error"):
        text += f": {scored['error']}"
    return f"<b class='{'ok' if outcome == 'success' else 'err'}'>{_e(text)}</b>"


def _step_html(step: StepRecord, scored: str) -> str:
    g = step.screen
    w, h = int(g.width), int(g.height)
    raw = "\n---\n".join(a.raw_text for a in step.attempts)
    notes = [n for a in step.attempts for n in a.notes]
    errors = [a.error for a in step.attempts if a.error]
    if step.error and step.error not in errors:
        errors.append(step.error)
    t = step.timings
    timing_rows = "".join(
        f"<tr><td>{name}</td><td>{value * 1000:.0f} ms</td></tr>"
        for name, value in (("capture", t.capture), ("preprocess", t.preprocess), ("model", t.model),
                            ("parse", t.parse), ("act", t.act), ("total", t.total))
    )
    status = "<span class='ok'>executed</span>" if step.executed else "not executed"
    # The frame's width follows from the window: at most 55% of the card, and no taller than the view.
    width = f"max-width:min(55%,{_MAX_SHOT_HEIGHT_VH * w / h:.3f}vh)"
    return (
        f"<div class='step' id='step-{step.index}' tabindex='-1'><div class='shot' style='{width}'>"
        f"<img src='{_e(step.screenshot)}' width='{w}' height='{h}' alt='step {step.index}'>"
        f"<svg viewBox='0 0 {w} {h}' preserveAspectRatio='none'>{_overlay(step, w, h)}</svg></div>"
        f"<div class='info'><h2>Step {step.index}</h2>"
        f"<div>screen {w}×{h} at scale {g.scale:g} · model image {step.model_image[0]}×{step.model_image[1]}"
        f" · {status}</div>"
        + (f"<div class='verdict'>eval outcome: {scored}</div>" if scored else "")
        + _safety_html(step)
        + f"<h3>Model output</h3><pre>{_e(raw)}</pre>"
        f"<h3>Action</h3><pre>{_e(json.dumps(step.action, ensure_ascii=False))}</pre>"
        f"<div>in driver coordinates: <code>{_e(json.dumps(step.mapped_action, ensure_ascii=False))}</code></div>"
        + "".join(f"<div class='err'>{_e(e)}</div>" for e in errors)
        + "".join(f"<div>note: {_e(n)}</div>" for n in notes)
        + f"<h3>Timings</h3><table>{timing_rows}</table></div></div>"
    )


def _safety_html(step: StepRecord) -> str:
    """The policy's verdict and who decided. The loop records it only for an action it held back (ask or
    deny); one with no record passed without being held."""
    if not step.safety:
        return "<div class='verdict'>safety: not held back</div>" if step.action else ""
    s = step.safety
    decision = s.decision or ""
    allowed = decision.startswith(("allowed", "dry run"))
    lines = [f"safety: <b>{_e(s.verdict)}</b> · decided: {_e(decision or '?')}"]
    lines += [f"why: {_e(r)}" for r in s.reasons]
    if s.target:
        lines.append(f"what it touches: {_e(s.target)}")
    return f"<div class='verdict {'ok' if allowed else 'err'}'>{'<br>'.join(lines)}</div>"


def _overlay(step: StepRecord, w: int, h: int) -> str:
    """Marks for the action's points, in the screenshot's physical pixels: a ring on a single point; a ring
    at the start and an arrow to the end for a swipe or a drag."""
    if not step.action:
        return ""
    mapper = CoordinateMapper(step.screen, step.model_image[0], step.model_image[1])
    r = max(6, min(w, h) // 60)
    points = []
    for name in ("start_coordinate", "coordinate", "coordinate2"):
        p = step.action.get(name)
        if isinstance(p, list) and len(p) == 2:
            points.append(mapper.to_image((p[0], p[1])))
    svg = []
    if len(points) == 2:
        (x1, y1), (x2, y2) = points
        head = f"arrow-{step.index}"
        svg.append(f"<defs><marker id='{head}' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='4' "
                   f"markerHeight='4' orient='auto'><path d='M0,0L10,5L0,10z' fill='#e00'/></marker></defs>")
        svg.append(f"<line class='arrow' x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}' stroke='#e00' "
                   f"stroke-width='{r / 2:.1f}' marker-end='url(#{head})'/>")
        svg.append(_ring(x1, y1, r, "start"))
    elif points:
        svg.append(_ring(*points[0], r, "point"))
    return "".join(svg)


def _ring(x: float, y: float, r: int, role: str) -> str:
    return (f"<g class='mark' data-role='{role}'><circle cx='{x:.1f}' cy='{y:.1f}' r='{r}' fill='none' "
            f"stroke='#e00' stroke-width='{r / 3:.1f}'/><circle cx='{x:.1f}' cy='{y:.1f}' r='{r / 4:.1f}' "
            "fill='#e00'/></g>")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
