"""Android over ADB: observe a phone's screen and act on it with `adb shell input` and friends.

Coordinates arrive in the physical pixels of the current display (`wm size`, its override, turned with
the rotation), which is also the screenshot's size, so ScreenGeometry's scale is 1.0.
"""

from __future__ import annotations

import difflib
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field

from loguru import logger

from actions.base import Action, Answer, Terminate, Type, Wait
from actions.geometry import ScreenGeometry
from actions.mobile import Click, LongPress, MobileKey, Open, Swipe, SystemButton
from actions.space import MOBILE, ActionSpace
from actions.text import clip
from environments.android.text import (
    ADB_KEYBOARD_IME, ADB_KEYBOARD_PACKAGE, adb_keyboard_command, input_text_commands, is_input_text_typable,
)
from environments.android.apps import close_matches, resolve_app
from environments.android.device import AdbDevice
from actions.mobile_keys import KEYCODES, normalise_key
from environments.android.shell import ShellResult, foreground_app, refused
from environments.base import ActionFailed, EnvironmentUnavailable, Observation, ObservationExtras

_BOUNDS = re.compile(r"\[(-?\d+),(-?\d+)\]\[(-?\d+),(-?\d+)\]")
SYSTEM_BUTTONS = {"Back": "KEYCODE_BACK", "Home": "KEYCODE_HOME", "Menu": "KEYCODE_APP_SWITCH",
                  "Enter": "KEYCODE_ENTER"}


@dataclass(frozen=True)
class AndroidSettings:
    """How to reach the device and how to drive it."""

    serial: str | None = None  # None: the only ready device
    adb_host: str = "127.0.0.1"
    adb_port: int | None = None  # None: $ANDROID_ADB_SERVER_PORT, else 5037
    connect: str | None = None  # "HOST:PORT" to `adb connect` first (network devices, the simulator)
    accessibility_tree: bool = False  # add `uiautomator dump` XML to observations (slow on real phones)
    verify_typing: bool = True  # read the focused field back after typing and log a mismatch
    use_adb_keyboard: bool = True  # type non-ASCII through ADBKeyboard's broadcast
    restore_ime: bool = True  # switch back to the previous keyboard after using ADBKeyboard
    ime_switch_wait_s: float = 0.5  # let a newly selected IME bind to the focused field
    app_names: Mapping[str, str] = field(default_factory=dict)  # extra "name" -> package for `open`
    swipe_ms: int = 400
    settle_delay: float = 0.5  # seconds to wait after each action for the screen to follow
    raw_screencap: bool = True
    press_home_on_reset: bool = True
    timeout_s: float = 20.0
    reconnect_timeout_s: float = 5.0


class AndroidEnvironment:
    """An Android phone or emulator behind adb, as an Environment for the mobile action space."""

    action_space: ActionSpace = MOBILE

    def __init__(self, settings: AndroidSettings | None = None) -> None:
        self.settings = settings or AndroidSettings()
        s = self.settings
        self._dev = AdbDevice(s.serial, s.adb_host, s.adb_port, s.connect, s.timeout_s, s.reconnect_timeout_s)
        self.serial = self._dev.serial
        self._packages: list[str] | None = None
        self._warnings: list[str] = []
        self._closed = False
        info = self._dev.screen_info()
        logger.info("attached {}: {}x{} physical, override {}, density {}, rotation {}", self.serial,
                    *info.physical, info.override, info.density, info.rotation)
        self._size = info.size

    # -- Environment ------------------------------------------------------------------------------------

    def reset(self) -> Observation:
        self._packages = None
        if self.settings.press_home_on_reset:
            self._key("KEYCODE_HOME")
            time.sleep(self.settings.settle_delay)
        expected = self._dev.screen_info().size
        obs = self.observe()
        if obs.screenshot.size != expected:
            # Some vendors' screencap ignores `wm size` overrides; taps then land scaled. Say so loudly.
            logger.warning("screenshot of {} is {}x{} but wm size/rotation say {}x{}; taps follow the screenshot",
                           self.serial, *obs.screenshot.size, *expected)
        return obs

    def observe(self) -> Observation:
        self._check_open()
        img = self._dev.screenshot(raw=self.settings.raw_screencap)
        self._size = img.size  # the frame is what `input` acts in, whatever rotation did since
        package, activity = foreground_app(self._dev.shell("dumpsys window")) or (None, None)
        black = max(hi for _, hi in img.getextrema()) <= 2
        if black:
            msg = ("the screenshot is all black: a secure window (FLAG_SECURE: banking, passwords, DRM video) "
                   "or a screen that is off")
            logger.warning("{} on {}", msg, self.serial)
            self._warnings.append(msg)
        extras = ObservationExtras(
            foreground_package=package, foreground_activity=activity,
            black_frame=True if black else None,  # absent unless black: an ordinary step records no such key
            accessibility_tree=self._dump_ui() if self.settings.accessibility_tree else None,
        )
        warnings, self._warnings = tuple(self._warnings), []
        return Observation(img, ScreenGeometry(img.size[0], img.size[1], scale=1.0), extras, warnings)

    def act(self, action: Action) -> None:
        self._check_open()
        s = self.settings
        match action:
            case Click(coordinate=p):
                x, y = self._on_screen(p)
                self._input(f"input tap {x} {y}")
            case LongPress(coordinate=p, time=t):
                x, y = self._on_screen(p)
                # Android reads a press under ~500 ms as a tap, so a shorter "long press" would not be one.
                self._input(f"input swipe {x} {y} {x} {y} {max(int(t * 1000), 500)}", timeout_s=s.timeout_s + t)
            case Swipe(coordinate=p1, coordinate2=p2):
                (x1, y1), (x2, y2) = self._on_screen(p1), self._on_screen(p2)
                self._input(f"input swipe {x1} {y1} {x2} {y2} {s.swipe_ms}")
            case Type(text=text):
                self._type(text)
            case SystemButton(button=b):
                self._key(SYSTEM_BUTTONS[b])
            case MobileKey(text=name):
                key = normalise_key(name)
                if key is None:
                    near = difflib.get_close_matches(name.strip().upper(), [k[8:] for k in KEYCODES], n=4)
                    raise ActionFailed(f"unknown key {clip(name)!r}; use an Android key name such as 'volume_up', "
                                       f"'power' or 'KEYCODE_CAMERA'" + (f" (did you mean {', '.join(near)}?)"
                                                                         if near else ""))
                self._key(key)
            case Open(text=name):
                self._open(name)
            case Wait(time=t):
                time.sleep(t)
                return
            case Terminate() | Answer():
                raise ActionFailed(f"'{action.action}' ends the episode and is handled by the agent loop, "
                                   "not the driver")
            case _:
                raise ActionFailed(f"the Android driver cannot do '{action.action}'")
        time.sleep(s.settle_delay)

    def close(self) -> None:
        self._closed = True

    # -- helpers ------------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise EnvironmentUnavailable("this AndroidEnvironment was closed; create a new one")

    def _on_screen(self, p: tuple[int, int]) -> tuple[int, int]:
        w, h = self._size
        if not (0 <= p[0] < w and 0 <= p[1] < h):
            raise ActionFailed(f"point [{p[0]}, {p[1]}] is outside the {w}x{h} screen; give x in 0..{w - 1} "
                               f"and y in 0..{h - 1}")
        return int(p[0]), int(p[1])

    def _key(self, key: str) -> None:
        self._input(f"input keyevent {key}")

    def _input(self, cmd: str, shown: str | None = None, timeout_s: float | None = None) -> None:
        """Run an `input` command; ActionFailed if the device refused it. `shown` stands for a command that carries
        typed text: the device's answer, which can quote the text, then stays out of the message."""
        result = self._dev.run(cmd, timeout_s, shown)
        if not refused(result):
            return
        if shown:
            raise ActionFailed(f"{shown} failed on the device (exit status {result.status}); its answer is left out "
                               "since it can quote the text (run `adb shell input text` by hand to see it)")
        # Xiaomi's MIUI refuses injected input until this extra developer option is on.
        hint = ("; turn on 'USB debugging (Security settings)' in Developer options"
                if "INJECT_EVENTS" in result.output else "; try the same `adb shell` command by hand")
        raise ActionFailed(f"the device refused `{cmd}` (exit status {result.status}): {clip(result.output, 200)}"
                           + hint)

    # -- capabilities (environments.capabilities) -------------------------------------------------------

    def shell(self, cmd: str) -> str:
        """DeviceShell: the command's output."""
        self._check_open()
        return self._dev.shell(cmd)

    def run(self, cmd: str) -> ShellResult:
        """DeviceShell: the command's output and exit status."""
        self._check_open()
        return self._dev.run(cmd)

    def push_file(self, path: str, data: bytes) -> None:
        """DeviceShell: write `data` to `path` on the device."""
        self._check_open()
        self._dev.push(path, data)

    def packages(self) -> list[str]:
        """AppCatalog: the installed packages, as `pm list packages` gives them (read once per episode)."""
        if self._packages is None:
            out = self._dev.shell("pm list packages")
            self._packages = sorted(line[8:].strip() for line in out.splitlines() if line.startswith("package:"))
        return self._packages

    def app_package(self, name: str) -> str | None:
        """AppCatalog: the package `open` starts for `name`, with the user's app names (AndroidSettings.app_names)."""
        return resolve_app(name, self.packages(), self.settings.app_names)

    def _open(self, name: str) -> None:
        pkg = self.app_package(name)
        if pkg is None:
            near = close_matches(name, self.packages(), self.settings.app_names)
            raise ActionFailed(f"no app called {clip(name)!r} is installed" +
                               (f"; close matches: {', '.join(near)}" if near else "") +
                               ". Open it from the launcher instead, or name it exactly as its icon does")
        out = self._dev.shell("cmd package resolve-activity --brief -a android.intent.action.MAIN "
                             f"-c android.intent.category.LAUNCHER {pkg}")
        comp = next((ln.strip() for ln in reversed(out.splitlines())
                     if re.fullmatch(r"[\w.]+/[\w.$]+", ln.strip())), None)
        if comp:
            started = self._dev.run(f"am start -n {comp}")
            if not refused(started):
                logger.debug("opened {!r}: {}", clip(name), comp)
                return
            logger.debug("am start -n {} failed ({}); trying monkey", comp, clip(started.output, 120))
        out = self._dev.run(f"monkey -p {pkg} -c android.intent.category.LAUNCHER 1")
        if out.status != 0 or "Events injected: 1" not in out.output:
            raise ActionFailed(f"{clip(name)!r} ({pkg}) is installed but has no launcher activity to open: "
                               f"{out.output[-200:]}")

    # -- typing -----------------------------------------------------------------------------------------

    def _type(self, text: str) -> None:
        # Typed text can be a secret: logs and messages name the command by the length of the text only, and
        # leave out what the device answers to it, which can quote it.
        shown = f"input text ({len(text)} characters)"
        if is_input_text_typable(text):
            for cmd in input_text_commands(text):
                self._input(cmd, shown)
        else:
            self._type_with_adb_keyboard(text, shown)
        if self.settings.verify_typing:
            self._verify_typed(text)

    def _type_with_adb_keyboard(self, text: str, shown: str) -> None:
        how = ("install ADBKeyboard (https://github.com/senzhk/ADBKeyBoard: `adb install ADBKeyboard.apk`, "
               f"then `adb shell ime enable {ADB_KEYBOARD_IME}`)")
        if not self.settings.use_adb_keyboard:
            raise ActionFailed("cannot type non-ASCII text: `input text` only types ASCII and use_adb_keyboard "
                               "is off")
        if ADB_KEYBOARD_PACKAGE not in self.packages():
            self._packages = None  # perhaps installed since we looked
            if ADB_KEYBOARD_PACKAGE not in self.packages():
                raise ActionFailed("cannot type non-ASCII text: `input text` only types ASCII, and ADBKeyboard, "
                                   f"which types the rest, is not installed; {how}")
        previous = self._dev.shell("settings get secure default_input_method").strip()
        if previous != ADB_KEYBOARD_IME:
            self._dev.shell(f"ime enable {ADB_KEYBOARD_IME}")
            chosen = self._dev.run(f"ime set {ADB_KEYBOARD_IME}")
            if chosen.status != 0 or "selected" not in chosen.output:
                raise ActionFailed("cannot type non-ASCII text: ADBKeyboard is installed but could not be made "
                                   f"the keyboard ({clip(chosen.output, 200)}); {how}")
            time.sleep(self.settings.ime_switch_wait_s)
        try:
            out = self._dev.shell(adb_keyboard_command(text), shown=f"ADBKeyboard {shown}")
            if "Broadcast completed" not in out:
                raise ActionFailed(f"ADBKeyboard's broadcast failed: {out.strip()[:200]}")
        finally:
            if previous != ADB_KEYBOARD_IME and self.settings.restore_ime and previous not in ("", "null"):
                self._dev.shell(f"ime set {previous}")

    def _dump_ui(self) -> str:
        out = self._dev.shell("uiautomator dump /sdcard/window_dump.xml && cat /sdcard/window_dump.xml")
        start = out.find("<?xml")
        return out[start:] if start >= 0 else ""

    def text_at(self, x: int, y: int) -> str | None:
        """What a person reads on what a tap at (x, y) activates, from the accessibility tree: the text, content
        description and hint of the smallest node there, or of the whole clickable node around it (a tap on a
        row's label activates the row, icon and all). The TextAtPoint capability, which the safety policy reads
        to decide whether a tap is risky; None when the tree is unavailable."""
        try:
            root = ET.fromstring(self._dump_ui())
        except ET.ParseError:  # no tree (an empty dump included)
            return None
        best, best_area = None, None
        for node in root.iter("node"):
            m = _BOUNDS.match(node.get("bounds", ""))
            if not m:
                continue
            x1, y1, x2, y2 = map(int, m.groups())
            if x1 <= x < x2 and y1 <= y < y2 and (best_area is None or (x2 - x1) * (y2 - y1) <= best_area):
                best, best_area = node, (x2 - x1) * (y2 - y1)
        if best is None:
            return None
        parents = {child: parent for parent in root.iter() for child in parent}
        control: ET.Element | None = best
        while control is not None and control.get("clickable") != "true":
            control = parents.get(control)
        texts = [t for n in (control if control is not None else best).iter("node")
                 for t in (n.get("text"), n.get("content-desc"), n.get("hint")) if t]
        return " ".join(dict.fromkeys(texts)) or None

    def _verify_typed(self, text: str) -> None:
        xml = self._dump_ui()
        if not xml:
            return  # uiautomator is unavailable (some secure or game screens); nothing to compare
        try:
            focused = next((n for n in ET.fromstring(xml).iter("node") if n.get("focused") == "true"), None)
        except ET.ParseError:
            return
        if focused is not None and focused.get("password") == "true":
            return  # a password field shows dots, not what was typed
        # The text stays out of the message: it may be a revealed secret, which redaction finds only verbatim.
        if focused is None:
            msg = f"typed {len(text)} characters but no field has focus: tap a text field first"
        elif not (focused.get("text") or "").endswith(text):
            msg = f"typed {len(text)} characters but the focused field does not end with them"
        else:
            return
        logger.warning("{} on {}", msg, self.serial)
        self._warnings.append(msg)
