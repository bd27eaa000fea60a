"""The one table of COMPUTER actions: its shared rules on a recording input, and both drivers built on it."""

from __future__ import annotations

from unittest.mock import Mock

import pytest

from actions.base import Terminate, Type, Wait
from actions.computer import COMPUTER_ACTIONS, DoubleClick, Key, LeftClick, LeftClickDrag, Scroll
from environments.base import ActionFailed
from environments.browser.driver import BrowserEnvironment, BrowserSettings
from environments.browser.actions import PageActions
from environments.computer_input import ComputerInput, computer_handlers
from environments.desktop.driver import DesktopEnvironment, DesktopSettings
from environments.desktop.pyautogui_input import PyAutoGuiInput


class Recorder:
    """A ComputerInput that records each call and raises on the one named in `fail_on`."""

    def __init__(self, fail_on: tuple[str, object] | None = None, refuse: str | None = None) -> None:
        self.calls: list[tuple[str, object]] = []
        self.position = (7.0, 8.0)
        self._fail_on = fail_on
        self._refuse = refuse

    def _record(self, name: str, arg: object) -> None:
        self.calls.append((name, arg))
        if (name, arg) == self._fail_on:
            raise ActionFailed(f"{name} failed")

    def move(self, x: float, y: float) -> None:
        self._record("move", (x, y))

    def drag_to(self, x: float, y: float) -> None:
        self._record("drag_to", (x, y))

    def click(self, x: float, y: float, button: str, count: int) -> None:
        self._record("click", (x, y, button, count))

    def press(self, button: str) -> None:
        self._record("press", button)

    def release(self, button: str) -> None:
        self._record("release", button)

    def check_key(self, key: str) -> None:
        if key == self._refuse:
            raise ActionFailed(f"cannot press {key}")

    def key_down(self, key: str) -> None:
        self._record("key_down", key)

    def key_up(self, key: str) -> None:
        self._record("key_up", key)

    def type(self, text: str) -> None:
        self._record("type", text)

    def wheel(self, pixels: int) -> None:
        self._record("wheel", pixels)

    def wait(self, seconds: float) -> None:
        self._record("wait", seconds)


def act(inp: ComputerInput, action: object) -> None:
    computer_handlers(inp)[type(action)](action)


def test_keys_are_released_in_reverse_after_a_failing_key() -> None:
    inp = Recorder(fail_on=("key_down", "a"))
    with pytest.raises(ActionFailed, match="key_down failed"):
        act(inp, Key(keys=["ctrl", "shift", "a", "b"]))
    assert inp.calls == [("key_down", "ctrl"), ("key_down", "shift"), ("key_down", "a"),
                         ("key_up", "shift"), ("key_up", "ctrl")]


def test_a_key_the_driver_refuses_fails_before_any_goes_down() -> None:
    inp = Recorder(refuse="b")
    with pytest.raises(ActionFailed, match="cannot press b"):
        act(inp, Key(keys=["ctrl", "b"]))
    assert inp.calls == []


def test_a_drag_releases_after_a_failing_move_and_starts_at_the_pointer() -> None:
    inp = Recorder(fail_on=("drag_to", (30, 40)))
    with pytest.raises(ActionFailed):
        act(inp, LeftClickDrag(coordinate=(30, 40)))
    assert inp.calls == [("move", (7.0, 8.0)), ("press", "left"), ("drag_to", (30, 40)), ("release", "left")]


def test_scroll_up_turns_the_wheel_negative_at_its_point_and_clicks_default_to_the_pointer() -> None:
    inp = Recorder()
    act(inp, Scroll(pixels=120, coordinate=(5, 6)))
    act(inp, Scroll(pixels=-50))
    act(inp, LeftClick())
    act(inp, DoubleClick(coordinate=(1, 2)))
    act(inp, Type(text="hi"))
    act(inp, Wait(time=0.5))
    assert inp.calls == [("move", (5, 6)), ("wheel", -120), ("wheel", 50), ("click", (7.0, 8.0, "left", 1)),
                         ("click", (1, 2, "left", 2)), ("type", "hi"), ("wait", 0.5)]


def test_both_drivers_take_their_computer_actions_from_the_table(xvfb: str) -> None:
    desktop = DesktopEnvironment(DesktopSettings(display=xvfb))
    browser = BrowserEnvironment(BrowserSettings(display="headless"))
    table = set(computer_handlers(Recorder()))
    assert table == set(COMPUTER_ACTIONS) - {Terminate}  # the agent loop, not a driver, ends an episode
    try:
        for handlers in (desktop._handlers, browser._actions.handlers):
            assert table <= set(handlers)
            for kind in table:
                assert handlers[kind].__qualname__.startswith(computer_handlers.__name__ + ".")
    finally:
        desktop.close()
        browser.close()


def test_the_pyautogui_adapter_keeps_the_desktops_ways() -> None:
    gui = Mock()
    gui.isValidKey.side_effect = lambda name: name != "f24"
    handlers = computer_handlers(PyAutoGuiInput(lambda: gui, DesktopSettings(wheel_click_pixels=50), Mock()))
    with pytest.raises(ActionFailed, match="key 'f24' cannot be pressed on this platform by pyautogui"):
        handlers[Key](Key(keys=["ctrl", "f24"]))
    gui.keyDown.assert_not_called()
    handlers[Scroll](Scroll(pixels=100))  # up: pyautogui's positive notches
    handlers[Scroll](Scroll(pixels=0))
    gui.scroll.assert_called_once_with(2)
    handlers[DoubleClick](DoubleClick(coordinate=(3, 4)))
    gui.click.assert_called_once_with(3, 4, clicks=2, interval=0.05, button="left")


def test_the_browser_adapter_drags_in_steps_and_waits_through_the_guard() -> None:
    pointer, page, guarded = Mock(position=(0.0, 0.0)), Mock(), []
    guard = lambda call, what: (guarded.append(what), call())  # noqa: E731
    actions = PageActions(BrowserSettings(drag_steps=9), lambda: page, guard, pointer)
    actions.handlers[LeftClickDrag](LeftClickDrag(coordinate=(50, 60)))
    pointer.move.assert_called_with(50, 60, steps=9)
    actions.handlers[Wait](Wait(time=0.25))
    page.wait_for_timeout.assert_called_once_with(250.0)
    assert guarded == ["waiting"]
