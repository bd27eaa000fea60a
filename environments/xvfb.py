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
        if self._mss is None:
            import mss

            factory = getattr(mss, "MSS", None) or mss.mss
            self._mss = factory(display=self.name)  # opened by the thread that captures: mss is per thread
        shot = self._mss.grab({"left": 0, "top": 0, "width": width, "height": height})
        return Image.frombuffer("RGB", shot.size, shot.bgra, "raw", "BGRX", 0, 1)

    def close(self) -> None:
        if self._mss is not None:
            try:
                self._mss.close()
            except Exception as exc:  # the server may already be gone
                logger.debug("closing the screen grabber failed: {}", exc)
            self._mss = None
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stderr is not None:
            self._proc.stderr.close()
