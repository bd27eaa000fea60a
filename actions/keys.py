"""The computer action space's key names: what the model writes ("ctrl+c", "Return", "super", "pgdn") to one
canonical name, and the key combinations a key action presses.

Qwen2.5-VL writes keys in many spellings (pyautogui's, X keysyms, macOS words, browser `key` values), so every
spelling is normalised once here; each driver maps canonical names to its own (`environments.keys`), and the
safety policy compares combinations in the same names. An unknown key is an UnknownKey whose message the model
can read and correct (drivers raise it as ActionFailed).
"""

from __future__ import annotations

from collections.abc import Sequence

from actions.text import clip


class UnknownKey(ValueError):
    """A key name no spelling table knows, or a key action without keys."""


MODIFIERS = ("ctrl", "shift", "alt", "meta")

# The named keys (every other key is one character), each driver maps all of them.
NAMED_KEYS: tuple[str, ...] = (
    "ctrl", "shift", "alt", "meta", "enter", "escape", "tab", "backspace", "delete", "insert", "home", "end",
    "pageup", "pagedown", "up", "down", "left", "right", "space", "capslock", "numlock", "scrolllock",
    "printscreen", "pause", "contextmenu", "volumeup", "volumedown", "volumemute",
    *(f"f{i}" for i in range(1, 25)),
)

# Spellings seen from models and toolkits, already lower-cased with "_", "-" and spaces removed.
_ALIASES: dict[str, str] = {
    "control": "ctrl",
    "controll": "ctrl",
    "controlleft": "ctrl",
    "controlright": "ctrl",
    "ctrll": "ctrl",
    "ctrlr": "ctrl",
    "lctrl": "ctrl",
    "rctrl": "ctrl",
    "shiftl": "shift",
    "shiftr": "shift",
    "shiftleft": "shift",
    "shiftright": "shift",
    "lshift": "shift",
    "rshift": "shift",
    "altl": "alt",
    "altr": "alt",
    "altleft": "alt",
    "altright": "alt",
    "lalt": "alt",
    "ralt": "alt",
    "option": "alt",
    "opt": "alt",
    "altgr": "alt",
    "super": "meta",
    "superl": "meta",
    "superr": "meta",
    "win": "meta",
    "winleft": "meta",
    "winright": "meta",
    "windows": "meta",
    "cmd": "meta",
    "command": "meta",
    "metal": "meta",
    "metar": "meta",
    "metaleft": "meta",
    "metaright": "meta",
    "os": "meta",
    "return": "enter",
    "kpenter": "enter",
    "esc": "escape",
    "back": "backspace",
    "bksp": "backspace",
    "del": "delete",
    "ins": "insert",
    "pgup": "pageup",
    "prior": "pageup",
    "pgdn": "pagedown",
    "pgdown": "pagedown",
    "next": "pagedown",
    "arrowup": "up",
    "arrowdown": "down",
    "arrowleft": "left",
    "arrowright": "right",
    "spacebar": "space",
    "caps": "capslock",
    "capital": "capslock",
    "printscr": "printscreen",
    "prtsc": "printscreen",
    "prtscr": "printscreen",
    "print": "printscreen",
    "menu": "contextmenu",
    "apps": "contextmenu",
    "audiovolumeup": "volumeup",
    "audiovolumedown": "volumedown",
    "audiovolumemute": "volumemute",
    "mute": "volumemute",
}

# Single characters with a name models also use.
_CHAR_WORDS: dict[str, str] = {
    "plus": "+",
    "minus": "-",
    "comma": ",",
    "period": ".",
    "slash": "/",
    "backslash": "\\",
    "semicolon": ";",
    "apostrophe": "'",
    "quote": "'",
    "grave": "`",
    "backquote": "`",
    "equal": "=",
    "equals": "=",
    "bracketleft": "[",
    "bracketright": "]",
}


def normalize_key(name: str) -> str:
    """One key as the model wrote it -> its canonical name (a name of `NAMED_KEYS`, or one character)."""
    if not isinstance(name, str) or name == "":
        raise UnknownKey(f"key name {name!r} is empty; give a key such as 'enter', 'ctrl' or 'a'")
    if len(name) == 1:
        # A single printable character is itself; its case matters ("A" types a capital).
        if name == " ":
            return "space"
        if name in "\n\r":
            return "enter"
        if name == "\t":
            return "tab"
        if not name.isprintable():
            raise UnknownKey(f"key {name!r} is a control character; use a named key such as 'enter' or 'tab'")
        return name
    squashed = name.strip().lower().replace("_", "").replace("-", "").replace(" ", "")
    if len(squashed) == 1:  # "A " or " a"
        return squashed
    if squashed in NAMED_KEYS:
        return squashed
    if squashed in _ALIASES:
        return _ALIASES[squashed]
    if squashed in _CHAR_WORDS:
        return _CHAR_WORDS[squashed]
    if squashed.startswith("key") and len(squashed) == 4 and squashed[3].isalpha():  # Playwright's "KeyA"
        return squashed[3]
    if squashed.startswith("digit") and len(squashed) == 6 and squashed[5].isdigit():  # "Digit5"
        return squashed[5]
    raise UnknownKey(
        f"unknown key {clip(name, 60)!r}; use a character ('a', '5', '/') or one of: "
        f"{', '.join(sorted(NAMED_KEYS))} (aliases such as ctrl, cmd, super, return, esc, pgdn also work)"
    )


def normalize_keys(keys: Sequence[str]) -> tuple[str, ...]:
    """The `keys` argument of a key action -> canonical names, pressed in order.

    Models also write a whole combination as one string ("ctrl+c", "Ctrl + Shift + T"), so each item is
    split on '+' (a lone '+' or a trailing '+', as in "ctrl++", is the plus key).
    """
    if not keys:
        raise UnknownKey("the key action needs at least one key, e.g. keys=['ctrl', 'c']")
    out: list[str] = []
    for item in keys:
        for part in _split_combo(item):
            out.append(normalize_key(part))
    # Modifiers written with a letter mean the shortcut, not a capital: ctrl+C is ctrl+c.
    if any(k in ("ctrl", "alt", "meta") for k in out):
        out = [k.lower() if len(k) == 1 and k.isalpha() else k for k in out]
    return tuple(out)


def _split_combo(item: str) -> list[str]:
    if not isinstance(item, str) or len(item) <= 1 or "+" not in item:
        return [item]
    parts = [p.strip() for p in item.split("+")]
    # "ctrl++" splits into ['ctrl', '', '']: the empty tail stands for the '+' key itself.
    result: list[str] = []
    i = 0
    while i < len(parts):
        if parts[i] == "":
            result.append("+")
            i += 2 if i + 1 < len(parts) and parts[i + 1] == "" else 1
        else:
            result.append(parts[i])
            i += 1
    return result


def is_modifier(key: str) -> bool:
    return key in MODIFIERS


def key_combo(keys: Sequence[str]) -> str:
    """Keys as combinations are compared: canonical names, modifiers first in one order (shift+ctrl+del and
    ctrl+shift+delete are one combination), letters in lower case (shift+W is shift+w)."""
    names = [k.lower() for k in normalize_keys(keys)]
    modifiers = sorted({k for k in names if is_modifier(k)}, key=MODIFIERS.index)
    return "+".join([*modifiers, *(k for k in names if not is_modifier(k))])


def pressed_combos(keys: Sequence[str]) -> set[str]:
    """Every combination a key action presses: the whole of it, and each key with the modifiers held when it
    goes down (the drivers press in order, so ctrl, w, a presses ctrl+w)."""
    names = normalize_keys(keys)
    combos = {key_combo(names)}
    for i, k in enumerate(names):
        if not is_modifier(k):
            combos.add(key_combo([*filter(is_modifier, names[:i]), k]))
    return combos
