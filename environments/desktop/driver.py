"""The desktop driver: mss captures one monitor at physical resolution, pyautogui acts in logical pixels.

pyautogui opens the X display named by $DISPLAY when it is first imported, so it is imported lazily here
and one process drives one X display. Text goes through XTest on X11 (environments/x11/xinput.py: exact for every
character, non-ASCII too, with the keyboard map kept steady while clients read it), else `xdotool type`, else
the clipboard, else pyautogui (ASCII only).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any, Literal

from loguru import logger
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from actions.base import Action, Answer, Terminate
from actions.geometry import ScreenGeometry
from actions.space import COMPUTER, ActionSpace
from environments.base import ActionFailed, EnvironmentUnavailable, Observation, ObservationExtras
from environments.computer_input import computer_handlers
from environments.desktop.pyautogui_input import PyAutoGuiInput

if TYPE_CHECKING:
    from environments.x11.xinput import XInput

IS_X11 = sys.platform.startswith("linux")

NO_DISPLAY_HINT = (
    "run under a virtual display, e.g. `xvfb-run -a -s '-screen 0 1280x800x24' <your command>`, or start one "
    "with `Xvfb :99 -screen 0 1280x800x24 &` and set DISPLAY=:99 (or DesktopSettings.display)"
)


class DesktopSettings(BaseModel):
    """Which screen to drive and how. Times are in seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    display: str | None = Field(
        default=None, description="X11 display such as ':99'; None uses $DISPLAY. Ignored on macOS and Windows."
    )
    monitor: int = Field(default=1, ge=0, description="mss monitor index: 1 is the first monitor, 0 all of them.")
    scale: float | None = Field(
        default=None, gt=0, description="Physical pixels per logical pixel; None measures it (1.0 on X11)."
    )
    type_backend: Literal["auto", "xtest", "xdotool", "clipboard", "pyautogui"] = "auto"
    type_delay_ms: int = Field(default=8, ge=0, le=1000, description="Delay between characters typed (xtest, xdotool).")
    pause: float = Field(default=0.02, ge=0, description="pyautogui.PAUSE: the pause after each pyautogui call.")
    settle_delay: float = Field(default=0.3, ge=0, description="Pause after each action so the screen can update.")
    drag_duration: float = Field(default=0.3, ge=0)
    wheel_click_pixels: int = Field(
        default=50, ge=1, description="Pixels one wheel notch stands for: scroll pixels become notches with this."
    )


class DesktopEnvironment:
    """One monitor of the local desktop as an Environment (action space: COMPUTER).

    reset() cannot restore a real desktop: it only observes. pyautogui's fail-safe stays on: a user who moves
    the mouse into a screen corner stops the agent (EnvironmentUnavailable). The agent's own points on a
    corner act one pixel inward instead, so they never stop it.
    """

    action_space: ActionSpace = COMPUTER

    def __init__(self, settings: DesktopSettings | None = None) -> None:
        self.settings = settings or DesktopSettings()
        self._gui: Any = None
        self._mss: Any = None
        self._keyboard: XInput | None = None  # XTest typing, opened at the first text
        # The display is checked here, as it costs one X connection: a missing one is reported before anything
        # slow (a model) starts. pyautogui and mss start at the first observation.
        self._display_name = self._connectable_display() if IS_X11 else None
        self._geometry: ScreenGeometry | None = None
        self._closed = False
        self._handlers = computer_handlers(PyAutoGuiInput(lambda: self._gui, self.settings, self._type))

    # ---- lifecycle

    def _ensure_started(self) -> None:
        if self._closed:
            raise EnvironmentUnavailable("this DesktopEnvironment was closed; create a new one")
        if self._gui is not None:
            return
        if IS_X11 and "pyautogui" not in sys.modules:
            # pyautogui binds to $DISPLAY at import: point it at our display first (process-wide).
            os.environ["DISPLAY"] = self._display_name
        try:
            import pyautogui
        except Exception as exc:  # pyautogui raises KeyError/Xlib errors when no display can be opened
            raise EnvironmentUnavailable(f"pyautogui could not start ({exc!r}); {NO_DISPLAY_HINT}") from exc
        if IS_X11:
            bound = pyautogui._pyautogui_x11._display.get_display_name()
            if _same_display(bound, self._display_name) is False:
                raise EnvironmentUnavailable(
                    f"pyautogui in this process already drives X display {bound!r}, not {self._display_name!r}; "
                    "pyautogui can drive one display per process, so run each desktop in its own process"
                )
        pyautogui.FAILSAFE = True  # the user's emergency stop: mouse into a corner
        pyautogui.PAUSE = self.settings.pause
        self._gui = pyautogui
        import mss

        factory = getattr(mss, "MSS", None) or mss.mss
        self._mss = factory(display=self._display_name) if IS_X11 else factory()
        self._monitor()  # fail now, with the list of monitors, if the index is wrong

    def _connectable_display(self) -> str:
        name = self.settings.display or os.environ.get("DISPLAY")
        if not name:
            raise EnvironmentUnavailable(f"no X display: DISPLAY is not set; {NO_DISPLAY_HINT}")
        from Xlib import display as xdisplay

        try:
            xdisplay.Display(name).close()
        except Exception as exc:  # Xlib raises DisplayError, OSError, even OverflowError for odd names
            raise EnvironmentUnavailable(f"cannot connect to X display {name!r} ({exc}); {NO_DISPLAY_HINT}") from exc
        return name

    def _monitor(self) -> dict[str, int]:
        monitors = self._mss.monitors
        index = self.settings.monitor
        if index >= len(monitors):
            listing = "; ".join(
                f"{i}: {m['width']}x{m['height']} at ({m['left']}, {m['top']})" + (" (all monitors)" if i == 0 else "")
                for i, m in enumerate(monitors)
            )
            raise EnvironmentUnavailable(
                f"monitor {index} does not exist; set --monitor (DesktopSettings.monitor) to one of {listing}"
            )
        return dict(monitors[index])

    @property
    def display_name(self) -> str | None:
        """The X display this environment drives (None off X11)."""
        return self._display_name

    def reset(self) -> Observation:
        return self.observe()

    def close(self) -> None:
        self._closed = True
        if self._mss is not None:
            try:
                self._mss.close()
            except Exception as exc:  # noqa: BLE001 - best effort on a display that went away
                logger.debug("closing mss failed: {}", exc)
        self._mss = None
        self._gui = None
        self._geometry = None
        if self._keyboard is not None:
            self._keyboard.close()  # gives back the keycodes it lent to characters the keyboard map lacks
            self._keyboard = None

    def __enter__(self) -> DesktopEnvironment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- observe

    def observe(self) -> Observation:
        self._ensure_started()
        mon = self._monitor()
        try:
            shot = self._mss.grab(mon)
        except Exception as exc:
            raise EnvironmentUnavailable(
                f"capturing monitor {self.settings.monitor} failed ({exc}); is the display still up?"
            ) from exc
        image = Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")
        # mss reports monitors in the units pyautogui acts in and captures physical pixels: on a Retina Mac
        # the image is twice the monitor's size, on X11 the same size. An explicit setting wins.
        scale = self.settings.scale or image.width / mon["width"]
        self._geometry = ScreenGeometry(
            width=image.width, height=image.height, scale=scale, origin_x=mon["left"], origin_y=mon["top"]
        )
        # No focused window, or a nameless one, gives no title rather than an empty one.
        extras = ObservationExtras(monitor=self.settings.monitor, window_title=self._focused_window_title() or None)
        return Observation(screenshot=image, geometry=self._geometry, extras=extras)

    def geometry(self) -> ScreenGeometry:
        """The monitor's geometry as last observed (observing once if never): size, scale, origin."""
        if self._geometry is None:
            return self.observe().geometry
        return self._geometry

    def _focused_window_title(self) -> str:
        if not IS_X11 or shutil.which("xdotool") is None:
            return ""
        try:
            out = subprocess.run(
                ["xdotool", "getwindowfocus", "getwindowname"],
                env=self._x_env(),
                capture_output=True,
                text=True,
                timeout=2,
            )
        except (subprocess.TimeoutExpired, OSError):
            return ""
        return out.stdout.strip() if out.returncode == 0 else ""

    # ---- act

    def act(self, action: Action) -> None:
        if isinstance(action, (Terminate, Answer)):
            raise ActionFailed(
                f"{action.action!r} ends the episode and is handled by the agent loop; it must not reach the driver"
            )
        handler = self._handlers.get(type(action))
        if handler is None:
            raise ActionFailed(
                f"the desktop cannot do {action.action!r}; use one of: {', '.join(self.action_space.tags)}"
            )
        self._ensure_started()
        action = action.map_points(self._checked_point)
        try:
            handler(action)
        except self._gui.FailSafeException as exc:
            raise EnvironmentUnavailable(
                "pyautogui's fail-safe fired: the mouse is in a screen corner, which is how a user stops the agent; "
                "move it away and start a new episode"
            ) from exc
        time.sleep(self.settings.settle_delay)

    def _checked_point(self, point: tuple[int, int]) -> tuple[int, int]:
        """`point` if it lies on the monitor, one pixel off a fail-safe corner if it is one."""
        g = self.geometry()
        lw, lh = g.logical_size
        x, y = point
        if not (g.origin_x <= x < g.origin_x + lw and g.origin_y <= y < g.origin_y + lh):
            raise ActionFailed(
                f"point ({x}, {y}) is outside monitor {self.settings.monitor}, which spans x {g.origin_x:g}.."
                f"{g.origin_x + lw - 1:g} and y {g.origin_y:g}..{g.origin_y + lh - 1:g}; point at something "
                "shown on the screenshot"
            )
        # pyautogui's fail-safe fires when the mouse is on a screen corner as a call starts: the user's stop.
        # The agent's own point there would fire it too, on its next call. A corner pixel is almost never a
        # target, so act one pixel towards the monitor's centre (still on the monitor) and keep the action.
        if (x, y) in self._gui.FAILSAFE_POINTS:
            nudged = (x + 1 if x < g.origin_x + lw / 2 else x - 1, y + 1 if y < g.origin_y + lh / 2 else y - 1)
            logger.debug("point {} is a fail-safe corner, reserved for the user's stop; acting at {}", point, nudged)
            return nudged
        return point

    # ---- typing

    def _type(self, text: str) -> None:
        backend = self._type_backend(text)
        logger.debug("typing {} characters with {}", len(text), backend)
        if backend == "xtest":
            self._xtest_keyboard().type(text)
        elif backend == "xdotool":
            self._run(["xdotool", "type", "--delay", str(self.settings.type_delay_ms), "--", text], "xdotool type")
        elif backend == "clipboard":
            self._paste(text)
        else:
            self._gui.write(text)

    def _type_backend(self, text: str) -> str:
        choice = self.settings.type_backend
        if choice != "auto":
            if choice == "pyautogui" and not text.isascii():
                raise ActionFailed(
                    "pyautogui cannot type non-ASCII text; set DesktopSettings.type_backend to 'auto', 'xdotool' "
                    "or 'clipboard'"
                )
            return choice
        # XTest first on X11: it maps every character the keyboard lacks before typing and keeps the map until
        # the driver closes. xdotool maps one at a time and restores the map at once, and under load a client
        # reads the restored map first and drops the character (a CJK one, seen in CI). pyautogui.write mistypes
        # some characters on X11 ('<' comes out as '>').
        if IS_X11 and _has_xlib():
            return "xtest"
        if IS_X11 and shutil.which("xdotool"):
            return "xdotool"
        if text.isascii():
            return "pyautogui"
        if (IS_X11 and shutil.which("xclip")) or not IS_X11:
            return "clipboard"
        raise ActionFailed(
            "cannot type non-ASCII text: install xdotool (Debian/Ubuntu: `apt install xdotool`) or xclip"
        )

    def _xtest_keyboard(self) -> XInput:
        if self._keyboard is None:
            from environments.x11.xinput import XInput

            self._keyboard = XInput(self._display_name or os.environ.get("DISPLAY", ""),
                                    type_delay=self.settings.type_delay_ms / 1000)
        return self._keyboard

    def _paste(self, text: str) -> None:
        if IS_X11:
            # xclip keeps serving the selection from a background copy of itself until something else owns it.
            self._run(["xclip", "-selection", "clipboard"], "xclip", stdin=text, quiet=True)
        else:
            import pyperclip

            pyperclip.copy(text)
        paste_modifier = "command" if sys.platform == "darwin" else "ctrl"
        self._gui.hotkey(paste_modifier, "v")

    def _x_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self._display_name:
            env["DISPLAY"] = self._display_name
        return env

    def _run(self, argv: list[str], what: str, stdin: str | None = None, quiet: bool = False) -> None:
        if shutil.which(argv[0]) is None:
            raise ActionFailed(f"{argv[0]} is not installed (Debian/Ubuntu: `apt install {argv[0]}`)")
        try:
            result = subprocess.run(
                argv,
                input=stdin,
                env=self._x_env(),
                stdout=subprocess.DEVNULL,
                # A tool that leaves a background copy running (xclip) would hold a pipe open: no capture.
                stderr=subprocess.DEVNULL if quiet else subprocess.PIPE,
                text=True,
                timeout=60,
            )
        except subprocess.TimeoutExpired as exc:
            raise ActionFailed(f"{what} did not finish within 60 s; type shorter text") from exc
        if result.returncode != 0:
            raise ActionFailed(f"{what} failed ({(result.stderr or '').strip() or result.returncode})")


def _has_xlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("Xlib") is not None


def _same_display(a: str | None, b: str | None) -> bool | None:
    """Whether two X display names are the same display (':1' and ':1.0' are); None if either is unknown."""
    if not a or not b:
        return None

    def key(name: str) -> str:
        host, _, rest = name.rpartition(":")
        return f"{host or 'localhost'}:{rest.split('.')[0]}"

    return key(a) == key(b)
