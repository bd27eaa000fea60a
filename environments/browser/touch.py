"""The browser as a phone: MOBILE actions carried out with touch on the active tab, in CSS pixels.

Touches are CDP `Input.dispatchTouchEvent`s on the page, in every display mode: headless Chromium takes them as
a touchscreen's, and the virtual display cannot give them (Xvfb has no touch device, and XTest only moves a
pointer), so there too the touch is page-level while the keyboard stays X. Chromium turns them into what a
phone's browser would: a tap gives pointer events of type "touch", touch events and then the compatibility
mouse events and a click; a drag scrolls what lies under its start, by the distance dragged less the touch slop
(about 15 CSS px). A swipe slows down to a stop and rests before it lifts, so it never flings: the page scrolls
by what was swiped, not by a guess at momentum. As on a phone, Chromium moves a tap onto a clickable element
within about 10 CSS px of it (touch adjustment: a tap on a slider's track beside its handle grabs the handle), and
`--disable-touch-adjustment` no longer turns that off. Long presses are Chromium's synthetic touch gesture, since
it sees no long press in held dispatched touches.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from actions.base import Action, Type, Wait
from actions.browser import Back, Navigate
from actions.mobile import Click, LongPress, MobileKey, Open, Swipe, SystemButton
from actions.mobile_keys import normalise_key
from environments.base import ActionFailed
from environments.browser.actions import Guard, PageActions

# A swipe's finger moves over this long (adb's default swipe is 300 ms), sampled as a touchscreen would, ~60 Hz.
SWIPE_SECONDS = 0.3
SWIPE_MOVES = 18
# Rest at the end before lifting: Chromium takes a pointer that has not moved for 40 ms as stopped (no fling).
SWIPE_REST_SECONDS = 0.06
# A touch this soon after a tap ends is the second half of a double tap to Chromium (its timeout is 300 ms),
# which a page may not see as a tap of its own (a field tapped right after a menu item kept no focus).
DOUBLE_TAP_SECONDS = 0.35

# adb key events a page can take, as the keyboard keys they are (environments.keys' names).
_PAGE_KEYS: dict[str, str] = {
    "KEYCODE_ENTER": "enter", "KEYCODE_DEL": "backspace", "KEYCODE_FORWARD_DEL": "delete", "KEYCODE_TAB": "tab",
    "KEYCODE_SPACE": "space", "KEYCODE_ESCAPE": "escape", "KEYCODE_DPAD_UP": "up", "KEYCODE_DPAD_DOWN": "down",
    "KEYCODE_DPAD_LEFT": "left", "KEYCODE_DPAD_RIGHT": "right", "KEYCODE_MOVE_HOME": "home",
    "KEYCODE_MOVE_END": "end", "KEYCODE_PAGE_UP": "pageup", "KEYCODE_PAGE_DOWN": "pagedown",
    "KEYCODE_COMMA": ",", "KEYCODE_PERIOD": ".", "KEYCODE_STAR": "*", "KEYCODE_POUND": "#",
    **{f"KEYCODE_{d}": str(d) for d in range(10)},
    **{f"KEYCODE_{c}": c.lower() for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
}


def page_key(name: str) -> str:
    """The keyboard key (environments.keys' name) an adb key event name stands for on a page."""
    adb = normalise_key(name)
    if adb in ("KEYCODE_BACK", "KEYCODE_HOME"):
        raise ActionFailed(f"use system_button {adb.removeprefix('KEYCODE_').title()} for {name!r}")
    if adb is None or adb not in _PAGE_KEYS:
        raise ActionFailed(f"this phone is a web page: the key {name!r} does nothing here; it takes "
                           "enter, del, forward_del, tab, space, escape, dpad_up/down/left/right, move_home, "
                           "move_end, page_up, page_down, letters and digits")
    return _PAGE_KEYS[adb]


class TouchInput:
    """One finger on the active tab, through that tab's CDP session (`cdp` is asked at every call: a tap can
    open a tab that becomes the active one)."""

    def __init__(self, cdp: Callable[[], Any], guard: Guard) -> None:
        self._cdp = cdp
        self._guard = guard
        self._tapped_at = 0.0  # time.monotonic() when the last tap lifted

    def _wait_out_double_tap(self) -> None:
        # A person's separate taps are never that quick; a model's answers on a GPU can be.
        wait = self._tapped_at + DOUBLE_TAP_SECONDS - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def _session(self, what: str) -> Any:
        session = self._cdp()
        if session is None:
            raise ActionFailed(f"{what} failed: the tab has no CDP session for touch input; try again")
        return session

    def _send(self, kind: str, point: tuple[float, float] | None, what: str) -> None:
        points = [] if point is None else [{"x": point[0], "y": point[1]}]
        session = self._session(what)
        self._guard(lambda: session.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points}), what)

    def tap(self, x: float, y: float) -> None:
        self._wait_out_double_tap()
        self._send("touchStart", (x, y), "tapping")
        self._send("touchEnd", None, "tapping")
        self._tapped_at = time.monotonic()

    def long_press(self, x: float, y: float, seconds: float) -> None:
        # Chromium's gesture detector sees no long press in held dispatchTouchEvent touches (the tap still clicks
        # on release); its own synthetic tap held for the time does, touch events included.
        self._wait_out_double_tap()
        session = self._session("pressing")
        gesture = {"x": x, "y": y, "duration": round(seconds * 1000), "gestureSourceType": "touch"}
        self._guard(lambda: session.send("Input.synthesizeTapGesture", gesture), "pressing")

    def swipe(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        (x0, y0), (x1, y1) = start, end
        self._wait_out_double_tap()
        self._send("touchStart", start, "swiping")
        try:
            for i in range(1, SWIPE_MOVES + 1):
                time.sleep(SWIPE_SECONDS / SWIPE_MOVES)
                f = 1 - (1 - i / SWIPE_MOVES) ** 2  # eases out to a stop, as a finger that places the page
                self._send("touchMove", (x0 + (x1 - x0) * f, y0 + (y1 - y0) * f), "swiping")
            time.sleep(SWIPE_REST_SECONDS)
        finally:
            self._send("touchEnd", None, "lifting the finger")


def touch_handlers(actions: PageActions, touch: TouchInput, home: Callable[[], str | None]) -> dict[type[Action], Any]:
    """The handler of each MOBILE action on a page: touches, the keyboard for `type` and keys, history for Back.
    `home` gives the address Home opens (the environment's start page), or None where there is none."""
    browser = dict(actions.handlers)  # the mouse-and-keyboard handlers these replace, some of them reused

    def key(name: str) -> None:
        actions.input.key_down(name)
        actions.input.key_up(name)

    def system_button(action: SystemButton) -> None:
        if action.button == "Back":
            browser[Back](Back())
        elif action.button == "Enter":
            key("enter")
        elif action.button == "Home":
            address = home()
            if address is None:
                raise ActionFailed("this phone has no home screen: the page it started on is the task's; use "
                                   "Back to return to an earlier page")
            browser[Navigate](Navigate(url=address))
        else:
            raise ActionFailed("this phone is a web page: it has no app menu (Menu); use Back, Home or Enter")

    def open_app(action: Open) -> None:
        raise ActionFailed(f"this phone is a web page with no apps to open ({action.text!r}); act on the page")

    return {
        Click: lambda a: touch.tap(*a.coordinate),
        LongPress: lambda a: touch.long_press(*a.coordinate, a.time),
        Swipe: lambda a: touch.swipe(a.coordinate, a.coordinate2),
        MobileKey: lambda a: key(page_key(a.text)),
        SystemButton: system_button,
        Open: open_app,
        Type: browser[Type],
        Wait: browser[Wait],
    }


def dialog_keys(action: Action) -> tuple[str, ...]:
    """The keys a phone action presses as far as a JS dialog is concerned: Enter accepts, Back dismisses."""
    if isinstance(action, SystemButton):
        return {"Enter": ("enter",), "Back": ("escape",)}.get(action.button, ())
    if isinstance(action, MobileKey):
        try:
            return (page_key(action.text),)
        except ActionFailed:
            return ()
    return ()
