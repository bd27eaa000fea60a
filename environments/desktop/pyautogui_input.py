"""pyautogui as the desktop driver's pointer and keyboard (environments.computer_input.ComputerInput)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from environments.base import ActionFailed
from environments.keys import to_pyautogui

if TYPE_CHECKING:
    from environments.desktop.driver import DesktopSettings


class PyAutoGuiInput:
    """pyautogui as the desktop's ComputerInput, in logical pixels; text goes through `type_text`, the desktop's
    own backends. `gui` gives the pyautogui module, imported when the desktop starts."""

    def __init__(self, gui: Callable[[], Any], settings: DesktopSettings, type_text: Callable[[str], None]) -> None:
        self._gui = gui
        self._settings = settings
        self._type_text = type_text

    @property
    def position(self) -> tuple[float, float]:
        return self._gui().position()  # a Point, pyautogui's (x, y) named tuple

    def move(self, x: float, y: float) -> None:
        self._gui().moveTo(x, y)

    def drag_to(self, x: float, y: float) -> None:
        self._gui().moveTo(x, y, duration=self._settings.drag_duration)

    def click(self, x: float, y: float, button: str, count: int) -> None:
        self._gui().click(x, y, clicks=count, interval=0.05 if count > 1 else 0.0, button=button)

    def press(self, button: str) -> None:
        self._gui().mouseDown(button=button)

    def release(self, button: str) -> None:
        self._gui().mouseUp(button=button)

    def check_key(self, key: str) -> None:
        if not self._gui().isValidKey(name := to_pyautogui(key)):
            raise ActionFailed(f"key {name!r} cannot be pressed on this platform by pyautogui")

    def key_down(self, key: str) -> None:
        self._gui().keyDown(to_pyautogui(key))

    def key_up(self, key: str) -> None:
        self._gui().keyUp(to_pyautogui(key))

    def type(self, text: str) -> None:
        self._type_text(text)

    def wheel(self, pixels: int) -> None:
        if pixels == 0:
            return
        # pyautogui scrolls in wheel notches, positive up; any non-zero amount is at least one notch.
        notches = max(1, round(abs(pixels) / self._settings.wheel_click_pixels))
        self._gui().scroll(-notches if pixels > 0 else notches)

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)
