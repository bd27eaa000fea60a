"""The framework's own time in a browser step, by phase, with a model that answers at once.

Each configuration (a screen and a display mode) runs one episode of the real agent loop, recorder included:
the model clicks about the middle of a page (text, cards, a photo-like picture) that every click changes, so
every step captures, acts, settles and records a new screen. Beside it, plain Playwright's PNG screenshot of the same page, which
Playwright-based agents take each step.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from actions.geometry import ImageBudget
from actions.space import tool_call_text
from agent.models.base import Generation, GenerationRequest
from agent.trajectory import StepRecord

# A page like a real one to encode (text, cards, a photo-like picture) that any click changes: the count goes
# up and a card changes colour.
PAGE = """<!doctype html><meta charset="utf-8"><title>bench</title>
<style>body { margin: 0; font: 15px/1.5 sans-serif; color: #222; } header { background: #234; color: #fff;
padding: 12px 24px; font-size: 22px; } main { display: grid; grid-template-columns: 2fr 1fr; gap: 16px;
padding: 16px 24px; } .cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; }
.card { padding: 10px; border-radius: 8px; box-shadow: 0 1px 4px #0004; } canvas { width: 100%; }</style>
<header>Bench store <span id="count">0</span> clicks</header>
<main><div><div class="cards" id="cards"></div><p id="text"></p></div><canvas id="photo" width="480" height="360">
</canvas></main>
<script>
const cards = document.getElementById("cards");
for (let i = 0; i < 16; i++) cards.insertAdjacentHTML("beforeend",
  `<div class="card" style="background: hsl(${i * 23}, 55%, 85%)"><b>Item ${i + 1}</b><br>$${(i * 7.35 + 3)
  .toFixed(2)}<br>In stock, ships tomorrow</div>`);
document.getElementById("text").textContent = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do "
  .repeat(40);
const g = document.getElementById("photo").getContext("2d"), img = g.createImageData(480, 360);
let seed = 7;
for (let i = 0; i < img.data.length; i += 4) {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  const x = (i / 4) % 480, y = Math.floor(i / 4 / 480), noise = seed % 40;
  img.data.set([x / 2 + noise, y / 2 + noise, 160 + noise, 255], i);
}
g.putImageData(img, 0, 0);
document.onclick = () => {
  const n = +document.getElementById("count").textContent + 1;
  document.getElementById("count").textContent = n;
  cards.children[n % 16].style.background = `hsl(${n * 47 % 360}, 60%, 70%)`;
};
</script>"""

PHASES: tuple[tuple[str, str], ...] = (
    ("capture_ms", "capture"),
    ("act_ms", "act + settle"),
    ("other_ms", "loop + recording"),
    ("framework_ms", "framework total"),
)


@dataclass(frozen=True)
class Screen:
    """A viewport in CSS px and its device scale factor."""

    width: int
    height: int
    scale: float = 1.0

    @classmethod
    def parse(cls, text: str) -> Screen:
        """WIDTHxHEIGHT, optionally @SCALE (1280x800@2)."""
        size, _, scale = text.strip().partition("@")
        width, _, height = size.partition("x")
        try:
            return cls(int(width), int(height), float(scale or 1))
        except ValueError:
            raise ValueError(f"{text!r} is not a screen; write WIDTHxHEIGHT or WIDTHxHEIGHT@SCALE, e.g. "
                             "1280x800@2") from None

    def __str__(self) -> str:
        return f"{self.width}x{self.height}" + (f"@{self.scale:g}" if self.scale != 1 else "")


class CentreClicker:
    """A model that answers at once: `clicks` clicks about the middle of the screenshot, then done. The clicks
    alternate between two spots: two at one spot within the double-click time make a double click, which
    the virtual display's input waits out, as a person's hand would."""

    name = "bench-clicker"

    def __init__(self, clicks: int) -> None:
        self.clicks = clicks
        self.image_budget = ImageBudget()
        self.answered = 0

    def generate(self, request: GenerationRequest) -> Generation:
        self.answered += 1
        w, h = request.image_size
        x = w // 3 if self.answered % 2 else 2 * w // 3
        arguments: dict[str, Any] = ({"action": "left_click", "coordinate": [x, h // 2]}
                                     if self.answered <= self.clicks else {"action": "terminate", "status": "success"})
        sizes = [self.image_budget.resized_size(*image.size) for m in request.messages for image in m.images]
        return Generation(text=tool_call_text(request.space.tool_name, arguments), image_sizes=sizes)

    def close(self) -> None:
        pass


def time_agent_steps(screen: Screen, display: str, steps: int, out_dir: Path) -> dict[str, Any]:
    """One episode of `steps` clicks; medians (ms) over the steps after the first (which starts the page)."""
    from agent.loop import Agent, AgentConfig
    from environments.browser.driver import BrowserEnvironment, BrowserSettings

    settings = BrowserSettings(viewport_width=screen.width, viewport_height=screen.height,
                               device_scale_factor=screen.scale, display=display,
                               start_url=_page_url(out_dir))
    ended: list[float] = []
    records: list[StepRecord] = []

    def on_step(record: StepRecord) -> None:
        ended.append(time.perf_counter())
        records.append(record)

    with BrowserEnvironment(settings) as env:
        agent = Agent(env, CentreClicker(steps), AgentConfig(max_steps=steps + 1, stuck_after=steps + 2),
                      on_step=on_step)
        result = agent.run("click the button", out_dir / f"episode-{screen}-{display}".replace("@", "at"))
        mode = env.mode
    clicks = [r for r in records if r.executed]
    if result.stop_reason != "terminate" or len(clicks) != steps:
        raise RuntimeError(f"the bench episode at {screen} ({display}) ended {result.stop_reason} after "
                           f"{len(clicks)} of {steps} clicks: {result.error}")
    rows = []
    for i in range(1, steps):  # the step between two callbacks, whole: commit and loop included
        t = records[i].timings
        wall = ended[i] - ended[i - 1]
        framework = wall - t.model - t.preprocess
        rows.append({"capture_ms": t.capture * 1000, "act_ms": t.act * 1000,
                     "other_ms": (framework - t.capture - t.act) * 1000, "framework_ms": framework * 1000})
    medians = {k: statistics.median(r[k] for r in rows) for k, _ in PHASES}
    return {"screen": str(screen), "display": mode, **medians}


def time_playwright_capture(screen: Screen, repeats: int) -> float:
    """Median ms of plain Playwright `page.screenshot()` (PNG) of the bench page, headless."""
    from playwright.sync_api import sync_playwright

    from environments.browser.chromium import find_chromium

    with sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
        browser = pw.chromium.launch(headless=True, executable_path=find_chromium(None))
        try:
            page = browser.new_page(viewport={"width": screen.width, "height": screen.height},
                                    device_scale_factor=screen.scale)
            page.goto(_page_url(Path(tmp)))
            times = []
            for _ in range(repeats + 1):
                t = time.perf_counter()
                page.screenshot(type="png")
                times.append((time.perf_counter() - t) * 1000)
            return statistics.median(times[1:])
        finally:
            browser.close()


def _page_url(folder: Path) -> str:
    path = folder / "bench-page.html"
    if not path.exists():
        path.write_text(PAGE, encoding="utf-8")
    return path.as_uri()


def run_browser_bench(screens: list[Screen], displays: list[str], steps: int, out: Path | None) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as tmp:
        for screen in screens:
            playwright_ms = time_playwright_capture(screen, repeats=steps)
            for display in displays:
                row = time_agent_steps(screen, display, steps, Path(tmp))
                row["playwright_capture_ms"] = playwright_ms
                results.append(row)
    if out is not None:
        out.write_text(json.dumps({"steps": steps, "results": results,
                                   "screens": [asdict(s) for s in screens]}, indent=2), encoding="utf-8")
    return results


def format_table(results: list[dict[str, Any]]) -> str:
    head = ["screen", "display", *(name for _, name in PHASES), "Playwright PNG capture"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in results:
        cells = [r["screen"], r["display"], *(f"{r[k]:.0f}" for k, _ in PHASES), f"{r['playwright_capture_ms']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\nmedians in ms per step, the model answering at once"
