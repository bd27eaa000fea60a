"""Calibration on both drivers: green when the mapping is right, red (with the error measured) when not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actions.base import Action
from actions.geometry import ImageBudget
from environments.base import DriverError, Observation
from environments.browser.driver import BrowserEnvironment, BrowserSettings
from environments.calibration import BrowserTargets, CalibrationReport, DesktopTargets, calibrate
from environments.desktop.driver import DesktopEnvironment, DesktopSettings

SMALL_BUDGET = ImageBudget(max_pixels=300 * 28 * 28)
CHECKPOINT_BUDGET = ImageBudget()


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserEnvironment]:
    env = BrowserEnvironment(BrowserSettings(settle_delay=0.02, settle_timeout=0.5))
    env.reset()
    yield env
    env.close()


@pytest.fixture(scope="module")
def desktop(xvfb: str) -> Iterator[DesktopEnvironment]:
    env = DesktopEnvironment(DesktopSettings(display=xvfb, settle_delay=0.02))
    yield env
    env.close()


class Shifted:
    """A miscalibrated driver: every click lands (dx, dy) pixels away from where it was sent."""

    def __init__(self, env: BrowserEnvironment | DesktopEnvironment, dx: int, dy: int) -> None:
        self.env, self.dx, self.dy = env, dx, dy
        self.action_space = env.action_space

    def reset(self) -> Observation:
        return self.env.reset()

    def observe(self) -> Observation:
        return self.env.observe()

    def act(self, action: Action) -> None:
        self.env.act(action.map_points(lambda p: (p[0] + self.dx, p[1] + self.dy)))

    def close(self) -> None:
        pass


def assert_green(report: CalibrationReport, rows: int, cols: int) -> None:
    assert report.ok, report.summary()
    assert report.hits == rows * cols
    assert report.max_error_px <= report.tolerance_px
    assert abs(report.scale[0] - 1) < 0.01 and abs(report.scale[1] - 1) < 0.01
    assert abs(report.offset[0]) < 2 and abs(report.offset[1]) < 2
    assert "OK" in report.summary().splitlines()[0]


@pytest.mark.parametrize("dsf", [1.0, 2.0])
@pytest.mark.parametrize("budget", [SMALL_BUDGET, CHECKPOINT_BUDGET], ids=["small", "checkpoint"])
def test_browser_calibration_is_green(browser: BrowserEnvironment, dsf: float, budget: ImageBudget) -> None:
    env = browser
    if env.settings.device_scale_factor != dsf:
        # A second environment in this thread shares Playwright with the first.
        env = BrowserEnvironment(BrowserSettings(device_scale_factor=dsf, settle_delay=0.02, settle_timeout=0.5))
    try:
        report = calibrate(env, budget)
        assert_green(report, 3, 4)
        assert report.screen["scale"] == dsf
        assert report.model_size == budget.resized_size(int(1280 * dsf), int(800 * dsf))
    finally:
        if env is not browser:
            env.close()


def test_desktop_calibration_is_green(desktop: DesktopEnvironment) -> None:
    report = calibrate(desktop, SMALL_BUDGET, rows=2, cols=3)
    assert_green(report, 2, 3)
    assert report.driver == "desktop"


def test_a_fractional_scale_on_an_odd_viewport_is_green(browser: BrowserEnvironment) -> None:
    # Rounding the point sent and the hit logged adds up to a pixel per axis: within the tolerance, not a failure.
    env = BrowserEnvironment(BrowserSettings(viewport_width=333, viewport_height=777, device_scale_factor=1.25,
                                             settle_delay=0.02, settle_timeout=0.5))
    try:
        assert_green(calibrate(env, CHECKPOINT_BUDGET), 3, 4)
    finally:
        env.close()


def test_calibration_catches_an_offset(browser: BrowserEnvironment) -> None:
    report = calibrate(Shifted(browser, 30, -25), SMALL_BUDGET, surface=BrowserTargets(browser))
    assert not report.ok
    assert report.hits == 0
    assert report.offset[0] == pytest.approx(30, abs=2) and report.offset[1] == pytest.approx(-25, abs=2)
    summary = report.summary()
    assert "FAILED" in summary and "missed" in summary
    assert "wrong monitor origin" in summary and "HiDPI" not in summary  # the hint the fit supports


def test_calibration_catches_a_desktop_offset(desktop: DesktopEnvironment) -> None:
    report = calibrate(Shifted(desktop, 4, 30), SMALL_BUDGET, rows=1, cols=2, surface=DesktopTargets(desktop))
    assert not report.ok
    assert report.offset[1] == pytest.approx(30, abs=2)


def test_unsupported_environment_is_a_clear_error(browser: BrowserEnvironment) -> None:
    with pytest.raises(DriverError, match="no calibration surface for Shifted"):
        calibrate(Shifted(browser, 0, 0), SMALL_BUDGET)


def test_calibration_catches_a_wrong_hidpi_scale(xvfb: str) -> None:
    # Told the 1x screen is 2x: clicks still meet the window (sized and clicked in the same wrong units),
    # but the model would see the targets elsewhere in the screenshot, and calibration must say so.
    wrong = DesktopEnvironment(DesktopSettings(display=xvfb, scale=2.0, settle_delay=0.02))
    try:
        report = calibrate(wrong, SMALL_BUDGET, rows=2, cols=2)
    finally:
        wrong.close()
    assert not report.ok
    assert not all(t.seen for t in report.targets)
    assert "not in the screenshot" in report.summary()
