"""Coordinate self-test: click a grid of targets through the agent's own path and check where they landed.

The targets are located from real state (the page's DOM, the window's geometry as the toolkit reports it),
turned into model-image points with `CoordinateMapper.to_model`, then clicked the way the agent clicks:
a LeftClick in model space, mapped with `CoordinateMapper.to_driver`, passed to `env.act`. The surface's own
event log says where each click arrived. A wrong scale (HiDPI), a wrong monitor origin or an off-by-one in
the mapping shows up as a missed target, a measured scale other than 1 or an offset other than 0.
"""

from __future__ import annotations

import json
import math
import os
import queue
import subprocess
import sys
import threading
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from loguru import logger
from pydantic import BaseModel, ConfigDict

from actions.computer import LeftClick
from actions.geometry import CoordinateMapper, ImageBudget
from environments.base import DriverError, Environment, EnvironmentUnavailable, EnvironmentWrapper
from environments.capabilities import PageAccess, find_capability

if TYPE_CHECKING:
    from environments.desktop.driver import DesktopEnvironment

Point = tuple[float, float]


class Hit(BaseModel):
    """A click as the surface saw it: where (driver coordinates) and which target, if any, it struck."""

    model_config = ConfigDict(frozen=True)

    x: float
    y: float
    target: int | None


class TargetResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    centre: Point  # driver coordinates, from the surface's real state
    model_point: tuple[int, int]  # what a perfect model would answer
    sent: tuple[int, int]  # driver point the click was sent to
    hit: Hit | None
    error_px: float | None  # distance from the hit to the centre, in driver pixels
    # Whether the screenshot shows the target where the model point says it is (a wrong HiDPI scale or
    # monitor origin moves the picture away from the clicks even when every click lands).
    seen: bool


class CalibrationReport(BaseModel):
    """The outcome of `calibrate`; `ok` is the verdict, `summary()` the human-readable form."""

    model_config = ConfigDict(frozen=True)

    driver: str
    screen: dict[str, float]
    model_size: tuple[int, int]
    targets: list[TargetResult]
    scale: tuple[float, float]  # measured d(hit)/d(centre) per axis; 1.0 when the mapping is right
    offset: tuple[float, float]  # measured hit - centre at the origin, driver pixels; 0 when right
    max_error_px: float
    mean_error_px: float
    tolerance_px: float
    ok: bool

    @property
    def hits(self) -> int:
        """How many targets were struck by their own click."""
        return sum(1 for t in self.targets if t.hit is not None and t.hit.target == t.index)

    def summary(self) -> str:
        s = self.screen
        lines = [
            f"calibration of the {self.driver} driver: {'OK' if self.ok else 'FAILED'}",
            f"  screen {s['width']:g}x{s['height']:g} physical px, scale {s['scale']:g}, origin "
            f"({s['origin_x']:g}, {s['origin_y']:g}); model image {self.model_size[0]}x{self.model_size[1]}",
            f"  targets hit: {self.hits}/{len(self.targets)}; seen in the screenshot where the model would "
            f"see them: {sum(t.seen for t in self.targets)}/{len(self.targets)}",
            f"  error: max {self.max_error_px:.2f} px, mean {self.mean_error_px:.2f} px "
            f"(tolerance {self.tolerance_px:.2f} px, driver pixels)",
            f"  measured scale ({self.scale[0]:.4f}, {self.scale[1]:.4f}), offset "
            f"({self.offset[0]:+.2f}, {self.offset[1]:+.2f}) px",
        ]
        for t in self.targets:
            if t.hit is None or t.hit.target != t.index:
                where = "no click arrived" if t.hit is None else f"landed at ({t.hit.x:g}, {t.hit.y:g})"
                lines.append(
                    f"  target {t.index} at ({t.centre[0]:.1f}, {t.centre[1]:.1f}) missed: sent to {t.sent}, {where}"
                )
            if not t.seen:
                lines.append(f"  target {t.index} is not in the screenshot at model point {t.model_point}")
        # The hint only where the fit says so: a miss for another reason (targets too small to tell apart on a
        # tiny viewport) has nothing to do with the scale.
        if not self.ok and any(abs(k - 1) > 0.01 for k in self.scale):
            lines.append("  a scale other than 1 points at a wrong HiDPI scale (--desktop-scale, "
                         "DesktopSettings.scale; --device-scale-factor in the browser)")
        if not self.ok and any(abs(o) > self.tolerance_px for o in self.offset):
            lines.append("  an offset other than 0 points at a wrong monitor origin (--monitor, DesktopSettings.monitor)")
        return "\n".join(lines)


class CalibrationSurface(Protocol):
    """Something that shows targets on the environment's screen and logs the clicks it receives."""

    name: str
    background: tuple[int, int, int]  # colour around the targets; a target's centre never has it

    def show(self, rows: int, cols: int) -> list[Point]:
        """Show rows x cols targets; return their centres in driver coordinates, read from real state."""
        ...

    def hits(self, count: int, timeout: float) -> list[Hit]:
        """The clicks received so far, waiting up to `timeout` seconds for `count` of them."""
        ...

    def close(self) -> None: ...


class BrowserTargets:
    """Targets on a page in the browser environment's active tab (environments/pages/calibration.html)."""

    name = "browser"
    background = (184, 196, 208)  # the page's background (#b8c4d0); anything else at a target's centre is it

    def __init__(self, env: PageAccess) -> None:
        self.page = env.page()

    def show(self, rows: int, cols: int) -> list[Point]:
        html = resources.files("environments").joinpath("pages/calibration.html").read_text(encoding="utf-8")
        self.page.set_content(html)
        centres = self.page.evaluate("([r, c]) => window.calibration.setup(r, c)", [rows, cols])
        return [(float(x), float(y)) for x, y in centres]

    def hits(self, count: int, timeout: float) -> list[Hit]:
        deadline = time.monotonic() + timeout
        while True:
            logged = self.page.evaluate("window.calibration.hits")
            if len(logged) >= count or time.monotonic() > deadline:
                return [Hit(**h) for h in logged]
            self.page.wait_for_timeout(50)

    def close(self) -> None:
        pass


class DesktopTargets:
    """Targets in a borderless Tk window covering the desktop environment's monitor (its own process)."""

    name = "desktop"
    background = (184, 196, 208)  # the window's background (#b8c4d0)

    def __init__(self, env: DesktopEnvironment) -> None:
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()

    def show(self, rows: int, cols: int) -> list[Point]:
        g = self.env.geometry()
        lw, lh = g.logical_size
        rect = [round(g.origin_x), round(g.origin_y), math.floor(lw), math.floor(lh)]
        script = Path(__file__).with_name("target_window.py")
        env = dict(os.environ)
        if self.env.display_name:
            env["DISPLAY"] = self.env.display_name
        self.proc = subprocess.Popen(
            [sys.executable, str(script), *map(str, rect), str(rows), str(cols)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        try:
            ready = self._events.get(timeout=15)
        except queue.Empty:
            raise EnvironmentUnavailable(
                "the calibration window did not appear within 15 s; check that tkinter is installed "
                "(Debian/Ubuntu: apt install python3-tk) and that the display accepts windows"
            ) from None
        if ready.get("type") != "ready":
            raise EnvironmentUnavailable(f"the calibration window failed: {ready.get('error', ready)}")
        time.sleep(0.2)  # let the compositor (if any) paint it before the screenshot
        return [(float(x), float(y)) for x, y in ready["targets"]]

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self._events.put(json.loads(line))
        err = self.proc.stderr.read() if self.proc.stderr else ""
        self._events.put({"type": "exit", "error": err.strip()[-500:]})

    def hits(self, count: int, timeout: float) -> list[Hit]:
        out: list[Hit] = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            try:
                event = self._events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if event.get("type") == "hit":
                out.append(Hit(x=event["x"], y=event["y"], target=event["target"]))
        return out

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


def surface_for(env: Environment) -> CalibrationSurface:
    """The target surface that fits a driver."""
    from environments.desktop.driver import DesktopEnvironment

    if (browser := find_capability(env, PageAccess)) is not None:
        return BrowserTargets(browser)
    # The targets are a window of their own on the desktop's X display: only that driver has one.
    desktop = env.unwrapped if isinstance(env, EnvironmentWrapper) else env
    if isinstance(desktop, DesktopEnvironment):
        return DesktopTargets(desktop)
    raise DriverError(
        f"no calibration surface for {type(env).__name__}; calibrate supports the browser and desktop drivers, "
        "or pass surface= with an object that shows targets and logs clicks"
    )


def calibrate(
    env: Environment,
    budget: ImageBudget,
    rows: int = 3,
    cols: int = 4,
    surface: CalibrationSurface | None = None,
    hit_timeout: float = 5.0,
) -> CalibrationReport:
    """Click rows x cols targets from model space through `env.act` and report where they landed."""
    if rows < 1 or cols < 1:
        raise ValueError(f"rows={rows} and cols={cols} must both be at least 1")
    surface = surface or surface_for(env)
    try:
        centres = surface.show(rows, cols)
        observation = env.observe()
        mapper = CoordinateMapper.for_screen(observation.geometry, budget)
        s_w, s_h = observation.screenshot.size
        sent: list[tuple[int, int]] = []
        model_points: list[tuple[int, int]] = []
        seen: list[bool] = []
        for centre in centres:
            model_point = mapper.to_model(centre)
            # Would a model looking at the screenshot see the target at this point?
            ix, iy = mapper.to_image(model_point)
            pixel = observation.screenshot.getpixel((min(int(ix), s_w - 1), min(int(iy), s_h - 1)))
            seen.append(math.dist(pixel[:3], surface.background) > 60)
            # Exactly the agent's path: a model-space action, mapped to driver space, acted.
            action = LeftClick(coordinate=model_point).map_points(mapper.to_driver)
            env.act(action)
            model_points.append(model_point)
            sent.append(action.coordinate)
        hits = surface.hits(len(centres), hit_timeout)
    finally:
        surface.close()
    report = _report(surface.name, mapper, centres, model_points, sent, hits, seen)
    logger.info("calibration: {}", report.summary().splitlines()[0])
    return report


def _report(
    name: str,
    mapper: CoordinateMapper,
    centres: list[Point],
    model_points: list[tuple[int, int]],
    sent: list[tuple[int, int]],
    hits: list[Hit],
    seen: list[bool],
) -> CalibrationReport:
    # Clicks arrive in the order they were sent; a surface logs every click, on a target or not.
    results = []
    for i, centre in enumerate(centres):
        hit = hits[i] if i < len(hits) else None
        error = math.dist((hit.x, hit.y), centre) if hit is not None else None
        results.append(
            TargetResult(
                index=i, centre=centre, model_point=model_points[i], sent=sent[i], hit=hit, error_px=error, seen=seen[i]
            )
        )
    errors = [r.error_px for r in results if r.error_px is not None]
    pairs = [(r.centre, (r.hit.x, r.hit.y)) for r in results if r.hit is not None]
    sx, ox = _fit([c[0] for c, _ in pairs], [h[0] for _, h in pairs])
    sy, oy = _fit([c[1] for c, _ in pairs], [h[1] for _, h in pairs])
    s = mapper.screen
    # A perfect mapping is still off by up to half a model pixel (quantisation), plus the rounding of the point
    # sent and of the hit logged, half a pixel each per axis.
    model_px = max(s.width / mapper.model_width, s.height / mapper.model_height) / s.scale
    tolerance = (model_px / 2 + 1.0) * math.sqrt(2)
    max_error = max(errors) if errors else math.inf
    all_hit = all(r.hit is not None and r.hit.target == r.index for r in results)
    all_seen = all(r.seen for r in results)
    return CalibrationReport(
        driver=name,
        screen={"width": s.width, "height": s.height, "scale": s.scale, "origin_x": s.origin_x, "origin_y": s.origin_y},
        model_size=(mapper.model_width, mapper.model_height),
        targets=results,
        scale=(sx, sy),
        offset=(ox, oy),
        max_error_px=max_error,
        mean_error_px=sum(errors) / len(errors) if errors else math.inf,
        tolerance_px=tolerance,
        ok=bool(results) and all_hit and all_seen and max_error <= tolerance,
    )


def _fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares y = a*x + b; with one distinct x only the offset can be measured (a = 1)."""
    if not xs:
        return math.nan, math.nan
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var < 1e-9:
        return 1.0, my - mx
    a = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var
    return a, my - a * mx
