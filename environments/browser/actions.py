"""How the browser driver carries out each BROWSER action on its active tab, in CSS pixels of the viewport.

Pointer and keyboard go through a `BrowserInput`: real X events on the driver's virtual display
(environments.x11.xinput), or Playwright's page-level input when Chromium runs headless or in a window of the
user's own desktop, where X events would move the user's pointer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from loguru import logger

from actions.base import Action
from actions.browser import Back, Forward, Navigate, with_scheme
from actions.text import clip
from environments.browser.settings import BrowserSettings
from environments.computer_input import Handler, computer_handlers
from environments.keys import to_playwright

# Runs one Playwright call and raises its errors as driver errors (BrowserEnvironment._guard).
Guard = Callable[[Callable[[], Any], str], Any]


class BrowserInput(Protocol):
    """A pointer and a keyboard; points in CSS pixels of the viewport, keys as canonical names."""

    position: tuple[float, float]

    def move(self, x: float, y: float, steps: int = 1) -> None: ...
    def press(self, button: str) -> None: ...
    def release(self, button: str) -> None: ...
    def click(self, x: float, y: float, button: str, count: int) -> None: ...
    def wheel(self, pixels: int) -> None: ...
    def key_down(self, key: str) -> None: ...
    def key_up(self, key: str) -> None: ...
    def type(self, text: str) -> None: ...


class PlaywrightInput:
    """Page-level input through Playwright (CDP): what headless Chromium allows.

    It reaches the page but not Chromium's native popups, so a `<select>` list or a date picker cannot be
    used with the pointer this way (the keyboard still works on them)."""

    def __init__(self, page: Callable[[], Any], guard: Guard) -> None:
        self._page = page
        self._guard = guard
        self._shift = False
        # Playwright's mouse has no getter; actions without a coordinate act where the last one left it.
        self.position: tuple[float, float] = (0.0, 0.0)

    def move(self, x: float, y: float, steps: int = 1) -> None:
        self._guard(lambda: self._page().mouse.move(x, y, steps=steps), "moving the mouse")
        self.position = (x, y)

    def press(self, button: str) -> None:
        self._guard(lambda: self._page().mouse.down(button=button), "pressing the mouse button")

    def release(self, button: str) -> None:
        self._guard(lambda: self._page().mouse.up(button=button), "releasing the mouse button")

    def click(self, x: float, y: float, button: str, count: int) -> None:
        self.move(x, y)
        mouse = self._page().mouse
        if count == 2:
            self._guard(lambda: mouse.dblclick(x, y, button=button), "double-clicking")
        else:
            self._guard(lambda: mouse.click(x, y, button=button), f"{button}-clicking")

    def wheel(self, pixels: int) -> None:
        # The page scrolls by the delta in CSS pixels at every device scale factor (tests check scrollY),
        # although the DOM event's deltaY then reads delta / scale factor.
        self._guard(lambda: self._page().mouse.wheel(0, pixels), "scrolling")

    def key_down(self, key: str) -> None:
        # Playwright does not apply a held Shift to the next key, so a character pressed with shift held is
        # sent in its shifted form, as a real keyboard would send it.
        name = to_playwright(key, shift=self._shift)
        self._guard(lambda: self._page().keyboard.down(name), f"pressing {name!r}")
        self._shift = self._shift or key == "shift"

    def key_up(self, key: str) -> None:
        name = to_playwright(key, shift=self._shift)
        self._guard(lambda: self._page().keyboard.up(name), f"releasing {name!r}")
        if key == "shift":
            self._shift = False

    def type(self, text: str) -> None:
        # Playwright sends characters missing from the keyboard layout (CJK, emoji) as text input.
        self._guard(lambda: self._page().keyboard.type(text), "typing")


class PageActions:
    """The browser's ComputerInput on its active tab, and the handler of each action it can do, by action type.

    `page` is asked for the active tab at every call, not once per action: a click can open a tab that
    becomes the active one before the action's next Playwright call. `input` is swapped for X input while the
    virtual display runs.
    """

    def __init__(self, settings: BrowserSettings, page: Callable[[], Any], guard: Guard,
                 pointer: BrowserInput) -> None:
        self.settings = settings
        self._page = page
        self._guard = guard
        self.input = pointer
        self.handlers: dict[type[Action], Handler] = computer_handlers(self) | {
            Navigate: self._navigate,
            Back: lambda a: self._history("back"),
            Forward: lambda a: self._history("forward"),
        }

    @property
    def position(self) -> tuple[float, float]:
        return self.input.position

    def move(self, x: float, y: float) -> None:
        self.input.move(x, y)

    def drag_to(self, x: float, y: float) -> None:
        self.input.move(x, y, steps=self.settings.drag_steps)

    def click(self, x: float, y: float, button: str, count: int) -> None:
        self.input.click(x, y, button, count)

    def press(self, button: str) -> None:
        self.input.press(button)

    def release(self, button: str) -> None:
        self.input.release(button)

    def check_key(self, key: str) -> None:
        """Playwright and XTest both press every canonical key (XTest maps a spare keycode to what it lacks)."""

    def key_down(self, key: str) -> None:
        self.input.key_down(key)

    def key_up(self, key: str) -> None:
        self.input.key_up(key)

    def type(self, text: str) -> None:
        self.input.type(text)

    def wheel(self, pixels: int) -> None:
        self.input.wheel(pixels)

    def wait(self, seconds: float) -> None:
        self._guard(lambda: self._page().wait_for_timeout(seconds * 1000), "waiting")

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
