"""A virtual X display that a driver starts for itself (Xvfb), and captures through mss/XShm.

The browser driver runs a headed Chromium on one of these, so that native widgets (the open list of a
`<select>`, date and colour pickers, JS dialogs, tooltips) are drawn on the screen that is captured and are
reached by real X input, as on a person's desktop. Xvfb runs in its own session, so a Ctrl-C in the
terminal reaches only the agent, which then closes it.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from typing import Any

from loguru import logger
from PIL import Image

from environments.base import EnvironmentUnavailable

XVFB_HINT = "run `bash scripts/install.sh`, or install Xvfb (Debian/Ubuntu: `apt install xvfb`)"


def find_xvfb() -> str | None:
    return shutil.which("Xvfb")


class VirtualDisplay:
    """One Xvfb screen of `width` x `height` physical pixels; `name` is its DISPLAY (":3")."""

    def __init__(self, width: int, height: int, start_timeout: float = 30.0) -> None:
        exe = find_xvfb()
        if exe is None:
            raise EnvironmentUnavailable(f"no Xvfb on PATH for the browser's virtual display; {XVFB_HINT}")
        self.width, self.height = width, height
        self._mss: Any = None
        self._x: Any = None  # an Xlib connection, for the window tree
        self._last: bytes = b""  # the pixels of the latest grab, to tell when the screen changes
        read_fd, write_fd = os.pipe()
        try:
            # -displayfd: Xvfb picks a free display number itself and writes it once it accepts clients, so
            # parallel drivers never race for a number and nothing polls for a lock file.
            self._proc = subprocess.Popen(
                [exe, "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp",
                 "-noreset"],
                pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                start_new_session=True,
            )
        finally:
            os.close(write_fd)
        try:
            self.name = ":" + self._read_display_number(read_fd, start_timeout)
        finally:
            os.close(read_fd)
        logger.debug("virtual display {} ({}x{}) started", self.name, width, height)

    def _read_display_number(self, fd: int, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        data = b""
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(left, 0))
            chunk = os.read(fd, 32) if ready else b""
            if not chunk:
                self._proc.kill()
                err = self._proc.communicate()[1].decode(errors="replace").strip().splitlines()
                why = err[-1] if err else ("no answer" if not ready else "it exited")
                raise EnvironmentUnavailable(
                    f"Xvfb could not start a virtual display within {timeout:.0f} s ({why}); check that "
                    f"`Xvfb -displayfd 1` runs, or {XVFB_HINT}"
                )
            data += chunk
        return data.decode().strip()

    def grab(self, width: int, height: int) -> Image.Image:
        """The top-left `width` x `height` pixels of the screen, as RGB (a few ms through XShm)."""
        return Image.frombuffer("RGB", (width, height), self._grab_raw(width, height), "raw", "BGRX", 0, 1)

    def _grab_raw(self, width: int, height: int) -> bytes:
        if self._mss is None:
            import mss

            factory = getattr(mss, "MSS", None) or mss.mss
            self._mss = factory(display=self.name)  # opened by the thread that captures: mss is per thread
        self._last = bytes(self._mss.grab({"left": 0, "top": 0, "width": width, "height": height}).bgra)
        return self._last

    def popup_shown(self) -> bool:
        """Whether a popup window is on the screen: the open list of a `<select>`, a date or colour picker,
        a tooltip. X11 toolkits make them override-redirect windows, which no window manager places."""
        from Xlib import X
        from Xlib import display as xdisplay

        if self._x is None:
            self._x = xdisplay.Display(self.name)
        for window in self._x.screen().root.query_tree().children:
            attributes = window.get_attributes()
            if attributes.override_redirect and attributes.map_state == X.IsViewable:
                return True
        return False

    def wait_until_still(self, width: int, height: int, deadline: float, must_change: bool,
                         quiet: float = 0.1) -> bool:
        """Grab the top-left `width` x `height` pixels until they stay the same for `quiet` seconds, having
        first changed from the latest grab if `must_change`; False if the deadline came first.

        Chromium maps a popup before drawing it, then fades it in over some frames; what the page itself
        draws, its animation frames already tell (the browser driver waits for those)."""
        before = self._last
        frame, since = self._grab_raw(width, height), time.monotonic()
        changed = frame != before
        # A loaded machine draws a fade-in's frames further apart: a pause as long as the longest gap between
        # two of its frames is not the end of it.
        longest_gap = 0.0
        while time.monotonic() < deadline:
            time.sleep(0.015)  # about a frame
            now_frame, now = self._grab_raw(width, height), time.monotonic()
            if now_frame != frame:
                if changed:
                    longest_gap = max(longest_gap, now - since)
                frame, since, changed = now_frame, now, True
            elif (changed or not must_change) and now - since >= max(quiet, 2 * longest_gap):
                return True
        return False

    def close(self) -> None:
        for name, what in (("_mss", "the screen grabber"), ("_x", "the X connection")):
            client = getattr(self, name)
            setattr(self, name, None)
            if client is not None:
                try:
                    client.close()
                except Exception as exc:  # noqa: BLE001 - the server may already be gone
                    logger.debug("closing {} failed: {}", what, exc)
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stderr is not None:
            self._proc.stderr.close()
