"""The simulated `input` command, held to Android 12+'s InputShellCommand (tests/data/android_reference.md).

Arguments are read as Android reads them: one at a time, a missing one being an exception that names
the argument before it, numbers parsed as Java parses them, extra arguments ignored. Exceptions come
out as Android's shell command handler writes them (stderr, exit status 255); an unknown command is a
line on stdout with status 0, as there.
"""

from __future__ import annotations

import math
import re

from actions.mobile_keys import KEYCODES
from environments.phone_sim import apps
from environments.phone_sim.state import PhoneState

Result = tuple[bytes, bytes, int]

# In the order Android prints them (an ArrayMap sorts its keys by Java's String.hashCode()).
SOURCES = ("touchnavigation", "touchscreen", "joystick", "stylus", "touchpad", "gamepad", "dpad", "mouse",
           "keyboard", "trackball")
USAGE = ("Usage: input [<source>] [-d DISPLAY_ID] <command> [<arg>...]\n\nThe sources are: \n"
         + "".join(f"      {s}\n" for s in SOURCES)
         + "\n-d: specify the display ID.\n      (Default: -1 for key event, 0 for motion event if not specified.)\n"
         "The commands and default sources are:\n"
         "      text <string> (Default: touchscreen)\n"
         "      keyevent [--longpress|--doubletap|--async|--delay <duration between keycodes in ms>] "
         "<key code number or name> ... (Default: keyboard)\n"
         "      tap <x> <y> (Default: touchscreen)\n"
         "      swipe <x1> <y1> <x2> <y2> [duration(ms)] (Default: touchscreen)\n"
         "      draganddrop <x1> <y1> <x2> <y2> [duration(ms)] (Default: touchscreen)\n"
         "      press (Default: trackball)\n"
         "      roll <dx> <dy> (Default: trackball)\n"
         "      motionevent <DOWN|UP|MOVE|CANCEL> <x> <y> (Default: touchscreen)\n"
         "      keycombination [-t duration(ms)] <key code 1> <key code 2> ... "
         "(Default: keyboard, the key order is important here.)\n")
# Java's Float.parseFloat: decimal or hex, NaN, Infinity, an optional f/d suffix, ASCII digits only.
_DECIMAL = re.compile(r"[+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?)")
_HEX = re.compile(r"([+-]?)0[xX]((?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+)[fFdD]?")
_JAVA_SPACE = "".join(map(chr, range(33)))  # String.trim() strips every char up to U+0020


class JavaException(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"java.lang.{kind}: {message}")


class _NumberFormat(Exception):
    """Java's NumberFormatException, which InputShellCommand turns into 'Invalid arguments for command'."""


class _Args:
    """BasicShellCommandHandler's cursor over the arguments; argv[0] is the command's own name."""

    def __init__(self, argv: list[str]) -> None:
        self.argv, self.pos = argv, 1

    def next(self) -> str | None:
        if self.pos >= len(self.argv):
            return None
        self.pos += 1
        return self.argv[self.pos - 1]

    def required(self) -> str:
        arg = self.next()
        if arg is None:
            raise JavaException("IllegalArgumentException", f'Argument expected after "{self.argv[self.pos - 1]}"')
        return arg

    def float(self) -> float:
        return java_float(self.required())


def java_float(text: str) -> float:
    s = text.strip(_JAVA_SPACE)
    if _DECIMAL.fullmatch(s):
        return float(s.rstrip("fFdD").replace("Infinity", "inf").replace("NaN", "nan"))
    if m := _HEX.fullmatch(s):
        return float.fromhex(m.group(1) + "0x" + m.group(2))
    raise _NumberFormat(text)


def java_int(text: str) -> int:
    if re.fullmatch(r"[+-]?\d+", text) and -2**31 <= (n := int(text)) < 2**31:
        return n
    raise _NumberFormat(text)


def input_text_unescape(text: str) -> str:
    """What Android's `input text` does to its argument: `%s` becomes a space."""
    buf = list(text)
    escape = False
    i = 0
    while i < len(buf):
        if escape:
            escape = False
            if buf[i] == "s":
                buf[i] = " "
                del buf[i - 1]
                i -= 1
        if buf[i] == "%":
            escape = True
        i += 1
    return "".join(buf)


def key_code(name: str) -> int:
    """KeyEvent.keyCodeFromString: a valid number, or a name with or without KEYCODE_; else KEYCODE_UNKNOWN."""
    if re.fullmatch(r"[+-]?\d+", name) and int(name) in KEYCODES.values():
        return int(name)
    return KEYCODES.get(name if name.startswith("KEYCODE_") else f"KEYCODE_{name}", 0)


def cmd_input(state: PhoneState, args: list[str]) -> Result:
    first = args[0] if args else "null"
    try:
        return _run(state, _Args(["input", *args]))
    except JavaException as e:
        trace = "\tat com.android.server.input.InputShellCommand.onCommand(InputShellCommand.java)\n"
        return b"", f"\nException occurred while executing '{first}':\n{e}\n{trace}".encode(), 255


def _run(state: PhoneState, a: _Args) -> Result:
    arg = a.next()
    if arg in SOURCES:
        arg = a.required()
    if arg == "-d":
        display = a.required()
        if display.upper() not in ("INVALID_DISPLAY", "DEFAULT_DISPLAY"):
            try:
                java_int(display)
            except _NumberFormat:
                raise JavaException("IllegalArgumentException", "Error: Invalid arguments for display ID.") from None
        arg = a.required()
    if arg in (None, "help", "-h"):
        return USAGE.encode(), b"", 0
    run = _COMMANDS.get(arg)
    if run is None:
        return f"Unknown command: {arg}\n".encode(), b"", 0
    try:
        run(state, a)
    except _NumberFormat:
        raise JavaException("IllegalArgumentException", f"Error: Invalid arguments for command: {arg}") from None
    return b"", b"", 0


def _text(state: PhoneState, a: _Args) -> None:
    text = input_text_unescape(a.required())
    if any(not (32 <= ord(c) < 127 or c == "\t") for c in text):
        # The virtual keyboard's key map has no events for these: getEvents returns null and Android reads
        # its length.
        raise JavaException("NullPointerException", "Attempt to get length of null array")
    state.log.append(f"input text {text!r}")
    state.type_text(text)


def _keyevent(state: PhoneState, a: _Args) -> None:
    arg: str | None = a.required()
    double = False
    while arg is not None and arg.startswith("--"):
        double = double or arg == "--doubletap"
        if arg == "--delay":
            java_int(a.required())  # the sim has no clock to wait on, but Android still parses the delay
        arg = a.next()
    if arg is None:  # only options: Android goes on to look up a null key name
        raise JavaException("NullPointerException", "Attempt to invoke virtual method 'boolean "
                            "java.lang.String.startsWith(java.lang.String)' on a null object reference")
    while arg is not None:
        for _ in range(2 if double else 1):
            press_key(state, key_code(arg))
        arg = a.next()


def _point(state: PhoneState, x: float, y: float) -> tuple[int, int] | None:
    """(x, y) in whole pixels, or None (logged) for a touch off the display, which Android drops silently."""
    w, h = state.size
    if math.isfinite(x) and math.isfinite(y) and 0 <= x < w and 0 <= y < h:
        return int(x), int(y)
    state.log.append(f"touch at {x} {y} outside the {w}x{h} display: ignored")
    return None


def _tap(state: PhoneState, a: _Args) -> None:
    x, y = a.float(), a.float()
    if p := _point(state, x, y):
        apps.tap(state, *p)


def _swipe(state: PhoneState, a: _Args) -> None:
    x1, y1, x2, y2 = a.float(), a.float(), a.float(), a.float()
    duration = a.next()
    ms = java_int(duration) if duration is not None else -1
    _gesture(state, _point(state, x1, y1), _point(state, x2, y2), ms if ms >= 0 else 300)


def _gesture(state: PhoneState, start: tuple[int, int] | None, end: tuple[int, int] | None, ms: int) -> None:
    if start is None or end is None:
        return
    (x1, y1), (x2, y2) = start, end
    if abs(x2 - x1) < 10 and abs(y2 - y1) < 10:
        (apps.long_press if ms >= 500 else apps.tap)(state, x1, y1)
    else:
        apps.swipe(state, x1, y1, x2, y2)


def _press(state: PhoneState, a: _Args) -> None:
    state.log.append("trackball press: nothing on this phone takes trackball focus")


def _roll(state: PhoneState, a: _Args) -> None:
    dx, dy = a.float(), a.float()
    state.log.append(f"trackball roll {dx} {dy}: nothing on this phone takes trackball focus")


def _motionevent(state: PhoneState, a: _Args) -> None:
    action = a.required()
    kind = action.upper()
    if kind not in ("DOWN", "UP", "MOVE", "CANCEL"):
        raise JavaException("IllegalArgumentException", f"Unknown action: {action}")
    if kind == "CANCEL":
        x, y = a.next(), a.next()  # optional for CANCEL, but parsed when both are there
        if x is not None and y is not None:
            java_float(x)
            java_float(y)
        state.pointer = None
        return
    p = _point(state, a.float(), a.float())
    if kind == "DOWN":
        state.pointer = p
    elif kind == "UP":
        # One DOWN ... UP pair is a tap or a swipe between its ends; the sim keeps no clock for long presses.
        _gesture(state, state.pointer, p, 0)
        state.pointer = None


def _keycombination(state: PhoneState, a: _Args) -> None:
    arg: str | None = a.required()
    if arg == "-t":
        java_int(a.required())
        arg = a.required()
    codes = []
    while arg is not None:
        if key_code(arg) == 0:
            raise JavaException("IllegalArgumentException", f"Unknown keycode: {arg}")
        codes.append(key_code(arg))
        arg = a.next()
    if len(codes) < 2:
        raise JavaException("IllegalArgumentException", "keycombination requires at least 2 keycodes")
    state.log.append(f"keycombination {codes}: no shortcuts on this phone")


_COMMANDS = {"text": _text, "keyevent": _keyevent, "tap": _tap, "swipe": _swipe, "draganddrop": _swipe,
             "press": _press, "roll": _roll, "motionevent": _motionevent, "keycombination": _keycombination}


def press_key(state: PhoneState, code: int) -> None:
    name = next((k for k, v in KEYCODES.items() if v == code), str(code))
    state.log.append(f"key {name}")
    if code == KEYCODES["KEYCODE_BACK"]:
        state.back()
    elif code == KEYCODES["KEYCODE_HOME"]:
        state.home()
    elif code == KEYCODES["KEYCODE_APP_SWITCH"]:
        state.start(*apps.RECENTS)
    elif code == KEYCODES["KEYCODE_DEL"] and state.focused:
        f = state.top.fields
        f[state.focused] = f.get(state.focused, "")[:-1]
    elif code == KEYCODES["KEYCODE_ENTER"] and state.focused:
        widget = next((w for w in apps.build(state) if w.rid == state.focused), None)
        if widget is not None and widget.multiline:
            state.type_text("\n")
    elif code in (KEYCODES["KEYCODE_VOLUME_UP"], KEYCODES["KEYCODE_VOLUME_DOWN"]):
        vol = int(state.settings["system"].get("volume_music", "7"))
        vol = min(15, vol + 1) if code == KEYCODES["KEYCODE_VOLUME_UP"] else max(0, vol - 1)
        state.settings["system"]["volume_music"] = str(vol)
    state.touch()
