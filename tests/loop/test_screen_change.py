"""Did the screen change? Judged on Chromium's own screenshots: a counter that went from 1 to 2 changed it, a
text caret blinking did not, at 1x and 2x."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from agent.screen_change import ScreenSignature
from environments.browser.driver import BrowserEnvironment, BrowserSettings

PAGE = """<!doctype html><body style="margin: 20px; font: 16px sans-serif">
<input id="field" value="some text" style="caret-color: black">
<p>Caesar Salad <span id="count">1</span> <b>+</b></p>"""


@pytest.fixture(scope="module", params=[1.0, 2.0], ids=["1x", "2x"])
def env(request: pytest.FixtureRequest) -> Iterator[BrowserEnvironment]:
    with BrowserEnvironment(BrowserSettings(viewport_width=640, viewport_height=400, display="headless",
                                            device_scale_factor=request.param)) as environment:
        environment.reset()
        environment.page().set_content(PAGE)
        environment.page().focus("#field")
        yield environment


def signature(env: BrowserEnvironment) -> ScreenSignature:
    shot = env.observe()
    return ScreenSignature.of(shot.screenshot, shot.geometry.scale)


def test_a_counter_going_up_is_a_change(env: BrowserEnvironment) -> None:
    before = signature(env)
    env.page().evaluate("document.getElementById('count').textContent = '2'")
    assert not signature(env).same_as(before)
    env.page().evaluate("document.getElementById('count').textContent = '1'")
    assert signature(env).same_as(before)


def test_a_blinking_caret_is_not_a_change(env: BrowserEnvironment) -> None:
    env.page().evaluate("document.getElementById('field').style.caretColor = 'transparent'")  # the caret's off phase
    hidden = signature(env)
    env.page().evaluate("document.getElementById('field').style.caretColor = 'black'")
    # The caret blinks, and a slow screenshot can fall in its off phase: look until it is on.
    for _ in range(20):
        shown = signature(env)
        if (hidden.grey != shown.grey).any():
            break
        time.sleep(0.1)
    assert (hidden.grey != shown.grey).any(), "the caret was not on the screenshot: the test shows nothing"
    assert hidden.same_as(shown)


def test_a_resized_screen_is_a_change() -> None:
    from PIL import Image

    assert not ScreenSignature.of(Image.new("RGB", (40, 30))).same_as(ScreenSignature.of(Image.new("RGB", (30, 40))))
