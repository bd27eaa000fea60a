"""A self-contained HTML report of one episode: opens offline from the folder, no server, no scripts.

Each step shows its screenshot with the action drawn over it (an SVG layer in the screenshot's own pixel
space), the model's text, the parsed and mapped action, errors and timings.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from actions.geometry import CoordinateMapper, ScreenGeometry
from agent.recording import load_episode, write_text_atomic
from agent.trajectory import StepRecord, Timings

REPORT_FILE = "report.html"

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px} .meta{color:#555;margin-bottom:16px}
.step{background:#fff;border:1px solid #ddd;border-radius:8px;margin:16px 0;padding:12px;display:flex;gap:16px}
.shot{position:relative;flex:0 0 auto;max-width:55%} .shot img{max-width:100%;display:block;border:1px solid #ccc}
.shot svg{position:absolute;left:0;top:0;width:100%;height:100%}
.info{flex:1;min-width:0} pre{white-space:pre-wrap;word-break:break-word;background:#f3f3f3;padding:8px;margin:4px 0}
.err{color:#b00020} .ok{color:#0a7a2f} table{border-collapse:collapse} td{padding:1px 8px 1px 0}
"""


def write_report(directory: Path) -> Path:
    """(Re)build report.html in an episode folder from its episode.json and steps.jsonl."""
    directory = Path(directory)
    header, steps = load_episode(directory)
    path = directory / REPORT_FILE
    write_text_atomic(path, render_report(header, steps))
    return path


def render_report(header: dict[str, Any], steps: list[StepRecord]) -> str:
    result = header.get("result") or {}
    outcome = result.get("stop_reason", "running or crashed")
    if result.get("status"):
        outcome += f" ({result['status']})"
    if result.get("answer"):
        outcome += f": {result['answer']}"
    if result.get("error"):
        outcome += f": {result['error']}"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{_e(header.get('task', 'episode'))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(header.get('task', ''))}</h1>",
        f"<div class='meta'>model {_e(header.get('model', '?'))} · space {_e(header.get('action_space', '?'))}"
        f" · {len(steps)} steps · outcome <b>{_e(outcome)}</b></div>",
        f"<div class='meta'>{_e(Timings.episode_summary([s.timings for s in steps]))}</div>" if steps else "",
    ]
    parts += [_step_html(s) for s in steps]
    parts.append("</body></html>")
    return "\n".join(parts)


def _step_html(step: StepRecord) -> str:
    g = step.screen
    w, h = int(g["width"]), int(g["height"])
    overlay = _overlay(step, w, h)
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
    return (
        f"<div class='step' id='step-{step.index}'><div class='shot'>"
        f"<img src='{_e(step.screenshot)}' width='{w}' alt='step {step.index}'>"
        f"<svg viewBox='0 0 {w} {h}' preserveAspectRatio='none'>{overlay}</svg></div>"
        f"<div class='info'><h2>Step {step.index}</h2>"
        f"<div>screen {w}×{h} at scale {g['scale']:g} · model image {step.model_image[0]}×{step.model_image[1]}"
        f" · {status}</div>"
        f"<h3>Model output</h3><pre>{_e(raw)}</pre>"
        f"<h3>Action</h3><pre>{_e(json.dumps(step.action, ensure_ascii=False))}</pre>"
        f"<div>in driver coordinates: <code>{_e(json.dumps(step.mapped_action, ensure_ascii=False))}</code></div>"
        + "".join(f"<div class='err'>{_e(e)}</div>" for e in errors)
        + "".join(f"<div>note: {_e(n)}</div>" for n in notes)
        + f"<h3>Timings</h3><table>{timing_rows}</table></div></div>"
    )


def _overlay(step: StepRecord, w: int, h: int) -> str:
    """Marks for the action's points, drawn in the screenshot's physical pixels."""
    if not step.action:
        return ""
    g = step.screen
    mapper = CoordinateMapper(
        ScreenGeometry(w, h, g["scale"], g["origin_x"], g["origin_y"]), step.model_image[0], step.model_image[1]
    )
    r = max(6, min(w, h) // 60)
    points = []
    for name in ("start_coordinate", "coordinate", "coordinate2"):
        p = step.action.get(name)
        if isinstance(p, list) and len(p) == 2:
            points.append(mapper.to_image((p[0], p[1])))
    svg = []
    if len(points) == 2:
        (x1, y1), (x2, y2) = points
        svg.append(f"<line x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}' stroke='#e00' "
                   f"stroke-width='{r / 2:.1f}'/>")
    for x, y in points:
        svg.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{r}' fill='none' stroke='#e00' stroke-width='{r / 3:.1f}'/>")
        svg.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{r / 4:.1f}' fill='#e00'/>")
    return "".join(svg)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
