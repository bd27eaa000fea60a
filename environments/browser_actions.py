"""How the browser driver carries out each BROWSER action on its active tab, in CSS pixels of the viewport."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loguru import logger

from actions.base import Action, Type, Wait
from actions.browser import Back, Forward, Navigate, with_scheme
from actions.computer import (
    DoubleClick,
    Key,
    LeftClick,
    LeftClickDrag,
    MiddleClick,
    MouseMove,
    RightClick,
    Scroll,
)
from actions.text import clip
from environments.browser_settings import BrowserSettings
from environments.keys import normalize_keys, to_playwright

# Runs one Playwright call and raises its errors as driver errors (BrowserEnvironment._guard).
Guard = Callable[[Callable[[], Any], str], Any]


class PageActions:
    """The handler of each action the browser can do, by action type.

    `page` is asked for the active tab at every call, not once per action: a click can open a tab that
    becomes the active one before the action's next Playwright call.
    """

    def __init__(self, settings: BrowserSettings, page: Callable[[], Any], guard: Guard) -> None:
        self.settings = settings
        self._page = page
        self._guard = guard
        # Playwright's mouse has no getter; actions without a coordinate act where the last one left it.
        self.mouse: tuple[float, float] = (0.0, 0.0)
        self.handlers: dict[type[Action], Callable[[Any], None]] = {
            Key: self._key,
            Type: self._type,
            MouseMove: self._mouse_move,
            LeftClick: lambda a: self._click(a, "left", 1),
            RightClick: lambda a: self._click(a, "right", 1),
            MiddleClick: lambda a: self._click(a, "middle", 1),
            DoubleClick: lambda a: self._click(a, "left", 2),
            LeftClickDrag: self._drag,
            Scroll: self._scroll,
            Wait: self._wait,
            Navigate: self._navigate,
            Back: lambda a: self._history("back"),
            Forward: lambda a: self._history("forward"),
        }

    def _key(self, action: Key) -> None:
        keys = normalize_keys(action.keys)
        names = [to_playwright(k, shift="shift" in keys[:i]) for i, k in enumerate(keys)]
        kb = self._page().keyboard
        pressed: list[str] = []
        try:
            for name in names:
                self._guard(lambda n=name: kb.down(n), f"pressing {name!r}")
                pressed.append(name)
        finally:
            # Release in reverse even after a failure, so no modifier stays held for the next action.
            for name in reversed(pressed):
                self._guard(lambda n=name: kb.up(n), f"releasing {name!r}")

    def _type(self, action: Type) -> None:
        # Playwright sends characters missing from the keyboard layout (CJK, emoji) as text input.
        self._guard(lambda: self._page().keyboard.type(action.text), "typing")

    def _move(self, x: float, y: float, steps: int = 1) -> None:
        self._guard(lambda: self._page().mouse.move(x, y, steps=steps), "moving the mouse")
        self.mouse = (x, y)

    def _mouse_move(self, action: MouseMove) -> None:
        self._move(*action.coordinate)

    def _click(self, action: Any, button: str, count: int) -> None:
        x, y = action.coordinate if action.coordinate is not None else self.mouse
        self._move(x, y)
        mouse = self._page().mouse
        if count == 2:
            self._guard(lambda: mouse.dblclick(x, y, button=button), "double-clicking")
        else:
            self._guard(lambda: mouse.click(x, y, button=button), f"{button}-clicking")

    def _drag(self, action: LeftClickDrag) -> None:
        start = action.start_coordinate if action.start_coordinate is not None else self.mouse
        mouse = self._page().mouse
        self._move(*start)
        self._guard(mouse.down, "pressing the mouse button")
        try:
            self._move(*action.coordinate, steps=self.settings.drag_steps)
        finally:
            self._guard(mouse.up, "releasing the mouse button")

    def _scroll(self, action: Scroll) -> None:
        if action.coordinate is not None:
            self._move(*action.coordinate)
        # Positive pixels scroll up; a wheel's positive delta scrolls down. The page scrolls by the delta in
        # CSS pixels at every device scale factor (tests check scrollY), although the DOM event's deltaY
        # then reads delta / scale factor.
        self._guard(lambda: self._page().mouse.wheel(0, -action.pixels), "scrolling")

    def _wait(self, action: Wait) -> None:
        self._guard(lambda: self._page().wait_for_timeout(action.time * 1000), "waiting")

    def _navigate(self, action: Navigate) -> None:
        url = with_scheme(action.url)
        timeout_ms = self.settings.navigation_timeout * 1000
        self._guard(lambda: self._page().goto(url, timeout=timeout_ms), f"opening {clip(url)}")

    def _history(self, direction: str) -> None:
        page = self._page()
        go = page.go_back if direction == "back" else page.go_forward
        response = self._guard(lambda: go(timeout=self.settings.navigation_timeout * 1000), f"going {direction}")
        if response is None:
            logger.debug("going {} loaded no new document (no history entry, or a same-page entry)", direction)
