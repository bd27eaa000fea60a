"""The browser as a phone (`BrowserSettings.touch`): MOBILE actions arrive as real touches, a swipe scrolls as a
finger does, the keyboard and system buttons work, and what a web page cannot do is refused clearly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from actions.base import Type
from actions.computer import LeftClick
from actions.mobile import Click, LongPress, MobileKey, Open, Swipe, SystemButton
from actions.space import MOBILE
from environments.base import ActionFailed
from environments.browser.driver import BrowserEnvironment, BrowserSettings
from prompts.qwen import system_prompt

# What each touch, pointer and mouse event says about itself, logged by the page.
TOUCH_LOG_JS = """() => {
  window.__touch = [];
  for (const t of ["touchstart", "touchend", "pointerdown", "pointerup", "mousedown", "click"]) {
    document.addEventListener(t, (e) => window.__touch.push({type: e.type, pointer: e.pointerType || null,
      x: e.clientX ?? (e.changedTouches && e.changedTouches[0].clientX), at: performance.now()}), true);
  }
}"""


@pytest.fixture(scope="module")
def phone(page_server: str) -> Iterator[BrowserEnvironment]:
    env = BrowserEnvironment(BrowserSettings(
        touch=True, display="headless", viewport_width=360, viewport_height=800, device_scale_factor=2.0,
        start_url=f"{page_server}/log", navigation_timeout=3.0, settle_timeout=1.0))
    env.reset()
    yield env
    env.close()


@pytest.fixture
def log_page(phone: BrowserEnvironment, page_server: str) -> BrowserEnvironment:
    phone.reset()
    phone.page().evaluate(TOUCH_LOG_JS)
    return phone


def touches(env: BrowserEnvironment) -> list[dict[str, Any]]:
    return env.page().evaluate("window.__touch.splice(0)")


def test_touch_phone_speaks_mobile_use(phone: BrowserEnvironment) -> None:
    assert phone.action_space is MOBILE
    assert '"name": "mobile_use"' in system_prompt(phone.action_space, 720, 1600)
    with pytest.raises(ActionFailed, match="cannot do 'left_click'"):
        phone.act(LeftClick(coordinate=(10, 10)))


def test_touch_tap_is_a_touch_not_a_mouse(log_page: BrowserEnvironment) -> None:
    log_page.act(Click(coordinate=(100, 50)))
    seen = touches(log_page)
    kinds = [e["type"] for e in seen]
    # A touchscreen's order: the finger first, then the compatibility mouse events and the click.
    assert kinds[:2] == ["pointerdown", "touchstart"] and "click" in kinds, kinds
    assert kinds.index("touchend") < kinds.index("mousedown") < kinds.index("click")
    assert {e["pointer"] for e in seen if e["type"].startswith("pointer") or e["type"] == "click"} == {"touch"}
    assert log_page.page().evaluate("document.activeElement.id") == "box"  # the tap landed on the textarea


def test_touch_swipe_scrolls_by_about_the_distance(log_page: BrowserEnvironment) -> None:
    log_page.act(Swipe(coordinate=(180, 700), coordinate2=(180, 300)))
    scrolled = log_page.page().evaluate("scrollY")
    # The finger's first ~15 px are Chromium's touch slop; a swipe that stops never flings further.
    assert 400 - 30 <= scrolled <= 400, scrolled
    log_page.act(Swipe(coordinate=(180, 300), coordinate2=(180, 500)))
    assert scrolled - 200 <= log_page.page().evaluate("scrollY") <= scrolled - 200 + 30


def test_touch_long_press_holds_the_finger(log_page: BrowserEnvironment) -> None:
    log_page.act(LongPress(coordinate=(200, 400), time=1.5))
    seen = {e["type"]: e["at"] for e in touches(log_page)}
    assert seen["touchend"] - seen["touchstart"] >= 1450
    assert "click" not in seen and "mousedown" not in seen  # a long press is not a tap


def test_touch_typing_keys_and_system_buttons(log_page: BrowserEnvironment, page_server: str) -> None:
    env = log_page
    env.act(Click(coordinate=(100, 50)))
    env.act(Type(text="héllo"))
    env.act(MobileKey(text="del"))  # adb's name for backspace
    assert env.page().evaluate("document.getElementById('box').value") == "héll"
    env.page().evaluate("window.__events.splice(0)")
    env.act(SystemButton(button="Enter"))
    assert [e["key"] for e in env.page().evaluate("window.__events") if e["type"] == "keydown"] == ["Enter"]
    env.act(Type(text="x"))  # the textarea keeps the focus through Enter
    env.page().goto(f"{page_server}/second")
    env.act(SystemButton(button="Back"))
    assert env.page().url == f"{page_server}/log"
    env.page().goto(f"{page_server}/second")
    env.act(SystemButton(button="Home"))  # the start page
    assert env.page().url == f"{page_server}/log"
    for refused, why in ((SystemButton(button="Menu"), "no app menu"), (Open(text="Chrome"), "no apps"),
                         (MobileKey(text="volume_up"), "does nothing here")):
        with pytest.raises(ActionFailed, match=why):
            env.act(refused)



def test_touch_on_the_virtual_display_is_page_level(page_server: str) -> None:
    # Xvfb has no touch device: the touches still reach the page through CDP, while typing stays X input.
    env = BrowserEnvironment(BrowserSettings(touch=True, display="virtual", viewport_width=600, viewport_height=800,
                                             start_url=f"{page_server}/log", settle_timeout=1.0))
    try:
        env.reset()
        env.page().evaluate(TOUCH_LOG_JS)
        env.act(Click(coordinate=(100, 50)))
        env.act(Type(text="hi"))
        assert [e["pointer"] for e in touches(env) if e["type"] == "click"] == ["touch"]
        assert env.page().evaluate("document.getElementById('box').value") == "hi"
        env.act(Swipe(coordinate=(300, 700), coordinate2=(300, 400)))
        assert 300 - 30 <= env.page().evaluate("scrollY") <= 300
    finally:
        env.close()
