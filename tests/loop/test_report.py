"""The HTML report as a person sees it: episodes recorded by the real loop in a real Chromium (landscape,
portrait, device scale factor 2), their reports opened in another Chromium, each mark measured against the
point the action hit in the displayed screenshot. Also: the safety verdict, an eval's scored outcome, long text
that wraps, and the keyboard."""

from __future__ import annotations

import json
import shutil
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actions.geometry import CoordinateMapper, ImageBudget
from agent.config import AgentConfig
from agent.loop import Agent
from agent.models.replay import ReplayBackend
from agent.recording import load_episode
from agent.report import REPORT_FILE
from agent.safety import Safety, SafetyPolicy
from environments.browser.driver import BrowserEnvironment, BrowserSettings
from environments.browser.chromium import SharedPlaywright
from tests.support.evals import run_one

# Targets as fractions of the viewport, so each layout puts them near its corners and centre.
PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>body{margin:0;font:14px sans-serif}
div,button{position:absolute;width:24px;height:24px;padding:0;border:0;transform:translate(-50%,-50%)}
#a{left:8%;top:10%;background:#06c} #b{left:92%;top:93%;background:#090} #pay{left:50%;top:15%;width:90px}
#c{left:25%;top:45%;background:#c60} #d{left:75%;top:70%;background:#c0c}</style></head><body>
<div id="a"></div><div id="b"></div><div id="c"></div><div id="d"></div><button id="pay">Pay now</button>
</body></html>"""
START_URL = "data:text/html," + urllib.parse.quote(PAGE)
# A budget smaller than every screen here, so model coordinates differ from the screenshot's pixels.
BUDGET = ImageBudget(max_pixels=250_000)
LONG = "https://example.com/" + "x" * 400  # one unbroken word, wider than any card
LAYOUTS = {"landscape": (1280, 720, 1.0), "portrait": (360, 800, 1.0), "dsf2": (800, 500, 2.0)}
# How the reports are looked at: a wide window, and a narrow one on a HiDPI screen.
VIEWS = [(1280, 900, 1.0), (700, 900, 2.0)]


def call(args: dict[str, Any]) -> str:
    return "<tool_call>\n" + json.dumps({"name": "computer_use", "arguments": args}) + "\n</tool_call>"


@pytest.fixture(scope="module")
def viewer() -> Iterator[Any]:
    """A second Chromium, the reader's, apart from the ones the episodes ran in."""
    pw = SharedPlaywright.acquire()
    browser = pw.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=["--no-sandbox"])
    try:
        yield browser
    finally:
        browser.close()
        SharedPlaywright.release()


@pytest.fixture(scope="module")
def episodes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, tuple[float, float]]]]:
    """One recorded episode per layout, and where each target's centre is in its screenshot's pixels."""
    out: dict[str, tuple[Path, dict[str, tuple[float, float]]]] = {}
    for name, (width, height, dsf) in LAYOUTS.items():
        env = BrowserEnvironment(BrowserSettings(viewport_width=width, viewport_height=height, device_scale_factor=dsf,
                                                 start_url=START_URL, settle_delay=0.02))
        try:
            env.reset()
            mapper = CoordinateMapper.for_screen(env.observe().geometry, BUDGET)
            centres = {t: tuple(env.page().eval_on_selector(f"#{t}", "e => { const r = e.getBoundingClientRect(); "
                                                                  "return [r.x + r.width / 2, r.y + r.height / 2]; }"))
                       for t in ("a", "b", "c", "d", "pay")}
            model = {t: list(mapper.to_model(p)) for t, p in centres.items()}
            texts = [
                "The blue square is at the top left, so I click it.\n" * 6 + call(
                    {"action": "left_click", "coordinate": model["a"]}),
                LONG + "\n" + call({"action": "left_click", "coordinate": model["b"]}),
                call({"action": "left_click_drag", "start_coordinate": model["c"], "coordinate": model["d"]}),
                call({"action": "left_click", "coordinate": model["pay"]}),
                call({"action": "type", "text": LONG}),
                call({"action": "terminate", "status": "success"}),
            ]
            folder = tmp_path_factory.mktemp(name) / "ep"
            agent = Agent(env, ReplayBackend(texts, BUDGET), AgentConfig(), safety=Safety(SafetyPolicy(mode="ask")))
            agent.run("Click the squares " + LONG, folder)
        finally:
            env.close()
        out[name] = folder, {t: (x * dsf, y * dsf) for t, (x, y) in centres.items()}
    return out


def open_report(viewer: Any, folder: Path, view: tuple[int, int, float]) -> Any:
    width, height, dsf = view
    page = viewer.new_page(viewport={"width": width, "height": height}, device_scale_factor=dsf)
    page.goto((folder / REPORT_FILE).as_uri())
    page.wait_for_function("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
    return page


# Where each mark of a step is on the page, and where the screenshot's pixel (x, y) is shown.
MEASURE = """([index, points]) => {
  const step = document.getElementById('step-' + index), img = step.querySelector('img');
  const r = img.getBoundingClientRect();
  const shown = ([x, y]) => [r.left + x * r.width / img.naturalWidth, r.top + y * r.height / img.naturalHeight];
  const centre = (e) => { const b = e.getBoundingClientRect(); return [b.left + b.width / 2, b.top + b.height / 2]; };
  const marks = {};
  step.querySelectorAll('.mark').forEach((m) => { marks[m.dataset.role] = centre(m.querySelector('circle')); });
  const line = step.querySelector('line.arrow');
  if (line) {
    const p = new DOMPoint(line.x2.baseVal.value, line.y2.baseVal.value).matrixTransform(line.getScreenCTM());
    marks.end = [p.x, p.y];
    marks.head = !!document.getElementById(line.getAttribute('marker-end').slice(5, -1));
  }
  return {marks, expected: Object.fromEntries(Object.entries(points).map(([k, p]) => [k, shown(p)])),
          ratio: [r.width / r.height, img.naturalWidth / img.naturalHeight], right: r.right, width: innerWidth};
}"""


@pytest.mark.parametrize("view", VIEWS, ids=["wide", "narrow-hidpi"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_marks_lie_where_the_action_landed(viewer: Any, episodes: dict, layout: str, view: tuple) -> None:
    folder, targets = episodes[layout]
    page = open_report(viewer, folder, view)
    try:
        for index, points in ((1, {"point": targets["a"]}), (2, {"point": targets["b"]}),
                              (3, {"start": targets["c"], "end": targets["d"]})):
            got = page.evaluate(MEASURE, [index, points])
            assert got["ratio"][0] == pytest.approx(got["ratio"][1], rel=0.01), "the screenshot keeps its shape"
            assert got["right"] <= got["width"], "the screenshot fits in the window"
            for role, (ex, ey) in got["expected"].items():
                mx, my = got["marks"][role]
                assert abs(mx - ex) <= 2 and abs(my - ey) <= 2, (
                    f"{layout} step {index} {role}: mark at ({mx:.1f}, {my:.1f}), the action at ({ex:.1f}, {ey:.1f})")
            if index == 3:
                assert got["marks"]["head"], "a drag is drawn as an arrow to where it ends"
    finally:
        page.close()


def test_long_text_wraps_and_the_safety_verdict_shows(viewer: Any, episodes: dict) -> None:
    folder, _ = episodes["landscape"]
    page = open_report(viewer, folder, VIEWS[1])
    try:
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        overflowing = page.evaluate("""[...document.querySelectorAll('h1, .step *')].filter((e) => {
            const card = e.closest('.step') || document.body;
            return e.getBoundingClientRect().right > card.getBoundingClientRect().right + 1;
        }).map((e) => e.tagName)""")
        assert overflowing == []
        pay = page.inner_text("#step-4 .verdict")
        assert "safety: ask" in pay and "decided: refused: no terminal" in pay and "Pay now" in pay
        assert "safety: not held back" in page.inner_text("#step-1 .verdict")
        assert "outcome terminate (success)" in page.inner_text(".meta")
    finally:
        page.close()


def test_keys_move_between_steps(viewer: Any, episodes: dict) -> None:
    folder, _ = episodes["portrait"]
    page = open_report(viewer, folder, VIEWS[0])
    try:
        at = "() => [document.activeElement.id, Math.round(document.activeElement.getBoundingClientRect().top)]"
        page.keyboard.press("j")
        page.keyboard.press("j")
        assert page.evaluate(at) == ["step-2", 8], "two steps down, at the top of the window (its scroll margin)"
        page.keyboard.press("ArrowRight")
        assert page.evaluate(at)[0] == "step-3"
        page.keyboard.press("k")
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("k")
        assert page.evaluate(at)[0] == "step-1", "the first step is as far back as it goes"
        assert page.evaluate("scrollY") > 0
    finally:
        page.close()


def test_an_eval_episode_shows_the_scored_outcome(viewer: Any, desktop_browser: Any, tmp_path: Path) -> None:
    from evals.miniwob.tasks import DESKTOP_SUITE

    # noop claims success at once; the page's own reward says it did nothing.
    result = run_one(DESKTOP_SUITE.tasks["click-button"], 0, desktop_browser, "noop", tmp_path)
    assert result.outcome == "failure" and result.agent_status == "success"
    folder = tmp_path / result.episode_dir
    assert load_episode(folder)[0]["eval"]["scored"] == {"outcome": "failure", "score": 0.0, "error": None}
    page = open_report(viewer, folder, VIEWS[0])
    try:
        meta = page.inner_text(".meta")
        assert "scored failure (score 0)" in meta and "the agent's claim: terminate (success)" in meta
        assert "eval outcome: failure (score 0)" in page.inner_text("#step-1")
    finally:
        page.close()
