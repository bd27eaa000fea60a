"""A real X server for desktop tests: an Xvfb of our own on a free display, and a Tk window that logs events.

pyautogui binds to one display per process, so every test module shares one Xvfb, started on first use
and stopped when the test process exits. Only processes started here are ever stopped here.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from environments.base import EnvironmentUnavailable
from environments.x11.xvfb import VirtualDisplay

SCREEN = (1280, 800)
_EVENT_WINDOW = Path(__file__).with_name("event_window.py")
_screen: VirtualDisplay | None = None


def shared_display() -> str:
    """The test process's Xvfb display name (":N"), started on first use: the driver's own VirtualDisplay,
    so the desktop tests start X exactly as the browser driver does."""
    global _screen
    if _screen is None:
        try:
            _screen = VirtualDisplay(*SCREEN, start_timeout=15)
        except EnvironmentUnavailable as e:
            pytest.fail(f"the desktop tests need an X server: {e}")
        atexit.register(_screen.close)
    return _screen.name


@pytest.fixture(scope="session")
def xvfb() -> str:
    return shared_display()


class EventWindow:
    """A Tk window (its own process) covering the screen; it logs every button, wheel and key event.

    Events arrive as dicts: {"type": "press"|"release", "button", "x", "y"} in root (screen) pixels,
    {"type": "key", "keysym", "char"}, {"type": "motion", "x", "y"}.
    """

    def __init__(self, display: str, geometry: tuple[int, int, int, int] = (0, 0, *SCREEN)) -> None:
        x, y, w, h = geometry
        env = dict(os.environ, DISPLAY=display)
        self.proc = subprocess.Popen(
            [sys.executable, str(_EVENT_WINDOW), f"{w}x{h}+{x}+{y}"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for(lambda e: e["type"] == "ready", timeout=15)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(json.loads(line))

    def drain(self) -> list[dict[str, Any]]:
        """Everything logged so far (and forgets it)."""
        out = []
        while True:
            try:
                out.append(self._lines.get_nowait())
            except queue.Empty:
                return out

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5) -> list[dict[str, Any]]:
        """Events up to and including the first that matches `predicate`; fails the test on timeout."""
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"the event window did not log the expected event within {timeout} s; saw {seen}")
            try:
                event = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            seen.append(event)
            if predicate(event):
                return seen

    def command(self, name: str) -> dict[str, Any]:
        """Ask the window something ("text": the typed text; "clear": empty it) and wait for the answer."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(name + "\n")
        self.proc.stdin.flush()
        return self.wait_for(lambda e: e["type"] == name, timeout=5)[-1]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="module")
def event_window(xvfb: str) -> Iterator[EventWindow]:
    window = EventWindow(xvfb)
    yield window
    window.close()
