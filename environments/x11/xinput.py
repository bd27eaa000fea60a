"""Real X input through the XTest extension: the pointer, the wheel and the keyboard of one X display.

Events made this way are the X server's own, so every client takes them as a person's: Chromium's native
popups (a `<select>` list, a date picker) and its JS dialogs receive them, which page-level input cannot reach.

Characters that the keyboard map lacks (CJK, most symbols) get a spare keycode each, kept for the display's
life. xdotool maps one, types it and restores the map at once, so under load a client can read the
restored map before the key event and drop the character; a display the driver owns has no one to restore
the map for.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from loguru import logger

from environments.base import ActionFailed
from environments.keys import to_x_keysym

BUTTONS = {"left": 1, "middle": 2, "right": 3}
# Clicks closer than this in time and space count as one double (or triple) click in X toolkits and Chromium.
MULTI_CLICK_SECONDS = 0.5
MULTI_CLICK_PIXELS = 5
WHEEL_DOWN, WHEEL_UP = 5, 4
# How long clients take to read a changed keyboard map, at most, on a loaded machine.
KEYMAP_SETTLE_SECONDS = 0.1


class XInput:
    """Pointer and keyboard of X display `display_name`; points are in CSS pixels, `scale` device pixels each."""

    def __init__(self, display_name: str, scale: float = 1.0, type_delay: float = 0.004,
                 wheel_pixels: int = 120) -> None:
        from Xlib import display as xdisplay

        self._d: Any = xdisplay.Display(display_name)
        if not self._d.has_extension("XTEST"):
            raise ActionFailed(f"X display {display_name} has no XTEST extension, so no input can be sent to it")
        self.scale = scale
        self.type_delay = type_delay
        self.wheel_pixels = wheel_pixels  # CSS px one notch scrolls in the client (Chromium on X: 120)
        self.position: tuple[float, float] = (0.0, 0.0)
        self._last_click = (0.0, 0.0, 0.0, "")  # time, x, y, button
        self._spare: list[int] = self._unmapped_keycodes()
        self._remapped: OrderedDict[int, int] = OrderedDict()  # keysym -> keycode we gave it, oldest first
        self._shift = self._keycode_of(to_x_keysym("shift"))[0]

    def close(self) -> None:
        try:
            # The keycodes lent to characters go back to empty: on a person's display, the map is theirs.
            for code in self._remapped.values():
                self._d.change_keyboard_mapping(code, [(0, 0)])
            self._d.sync()
            self._d.close()
        except Exception as exc:  # noqa: BLE001 - the server is gone already
            logger.debug("closing the X input connection failed: {}", exc)

    # ---- pointer

    def _fake(self, event: int, detail: int = 0, **kw: int) -> None:
        from Xlib.ext import xtest

        xtest.fake_input(self._d, event, detail, **kw)

    def move(self, x: float, y: float, steps: int = 1) -> None:
        from Xlib import X

        x0, y0 = self.position
        for i in range(1, steps + 1):
            px, py = x0 + (x - x0) * i / steps, y0 + (y - y0) * i / steps
            self._fake(X.MotionNotify, x=round(px * self.scale), y=round(py * self.scale))
            self._d.sync()
        self.position = (x, y)

    def press(self, button: str) -> None:
        from Xlib import X

        self._fake(X.ButtonPress, BUTTONS[button])
        self._d.sync()

    def release(self, button: str) -> None:
        from Xlib import X

        self._fake(X.ButtonRelease, BUTTONS[button])
        self._d.sync()

    def click(self, x: float, y: float, button: str, count: int) -> None:
        """`count` clicks that make one single (or double) click: a click right after one at the same spot
        would otherwise count as its second, so it waits the double-click time out first."""
        at, lx, ly, last_button = self._last_click
        near = max(abs(x - lx), abs(y - ly)) * self.scale <= MULTI_CLICK_PIXELS
        wait = at + MULTI_CLICK_SECONDS - time.monotonic()
        if near and button == last_button and wait > 0:
            time.sleep(wait)
        self.move(x, y)
        for i in range(count):
            if i:
                # Chromium counts two clicks with the same server timestamp as two single clicks; a person's
                # double click has some tens of milliseconds between them.
                time.sleep(0.04)
            self.press(button)
            self.release(button)
        self._last_click = (time.monotonic(), x, y, button)

    def wheel(self, pixels: int) -> None:
        """Turn the wheel at the pointer: positive pixels scroll down, as a wheel's delta does. A wheel turns
        in whole notches, as a person's does: the nearest count, at least one for any non-zero amount."""
        from Xlib import X

        if not pixels:
            return
        button = WHEEL_DOWN if pixels > 0 else WHEEL_UP
        for _ in range(max(1, round(abs(pixels) / self.wheel_pixels))):
            self._fake(X.ButtonPress, button)
            self._fake(X.ButtonRelease, button)
        self._d.sync()

    # ---- keyboard

    def key_down(self, key: str) -> None:
        """Press canonical key `key` (environments.keys); a character that needs shift gets it from its own
        keycode's level, so callers press shift only when the model asked for it."""
        from Xlib import X

        code, shifted = self._keycode_of(to_x_keysym(key))
        if shifted:
            self._fake(X.KeyPress, self._shift)
        self._fake(X.KeyPress, code)
        self._d.sync()

    def key_up(self, key: str) -> None:
        from Xlib import X

        code, shifted = self._keycode_of(to_x_keysym(key))
        self._fake(X.KeyRelease, code)
        if shifted:
            self._fake(X.KeyRelease, self._shift)
        self._d.sync()

    def type(self, text: str) -> None:
        keys = [{"\n": "enter", "\r": "enter", "\t": "tab"}.get(ch, ch) for ch in text]
        self._map_missing(keys)
        for key in keys:
            self.key_down(key)
            self.key_up(key)
            if self.type_delay:
                time.sleep(self.type_delay)

    def _map_missing(self, keys: list[str]) -> None:
        """Give every character of `keys` that has no keycode a spare one, before any is typed, so that the
        clients' wait for the new map is paid once per text (and only for characters new to this display)."""
        missing = {to_x_keysym(key) for key in keys} - set(self._remapped)
        missing = {sym for sym in missing if not self._d.keysym_to_keycodes(sym)}
        for keysym in list(missing)[: len(self._spare)]:
            self._map_spare(keysym, settle=False)
        if missing:
            time.sleep(KEYMAP_SETTLE_SECONDS)

    def _keycode_of(self, keysym: int) -> tuple[int, bool]:
        """The keycode that gives `keysym`, and whether it needs shift; a spare keycode mapped to it if none."""
        if keysym in self._remapped:
            self._remapped.move_to_end(keysym)
            return self._remapped[keysym], False
        for code, level in self._d.keysym_to_keycodes(keysym):
            if level in (0, 1):
                return code, level == 1
        return self._map_spare(keysym), False

    def _map_spare(self, keysym: int, settle: bool = True) -> int:
        """Map `keysym` to a spare keycode; with `settle`, wait until clients have read the new map (a key
        event that reaches Chromium before it has would type nothing)."""
        if self._spare:
            code = self._spare.pop()
        else:
            # Every spare keycode holds a character already: reuse the least recently typed one, after a pause
            # so that clients have read the events that used its old meaning.
            old, code = self._remapped.popitem(last=False)
            logger.debug("no spare keycode left; keycode {} now types {:#x} instead of {:#x}", code, keysym, old)
            time.sleep(KEYMAP_SETTLE_SECONDS)
        # Both levels, so a held shift does not change what the key types.
        self._d.change_keyboard_mapping(code, [(keysym, keysym)])
        self._d.sync()
        self._remapped[keysym] = code
        if settle:
            time.sleep(KEYMAP_SETTLE_SECONDS)
        return code

    def _unmapped_keycodes(self) -> list[int]:
        first = self._d.display.info.min_keycode
        count = self._d.display.info.max_keycode - first + 1
        rows = self._d.get_keyboard_mapping(first, count)
        return [first + i for i, row in enumerate(rows) if not any(row)][::-1]
