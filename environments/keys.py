"""Key names: what the model writes ("ctrl+c", "Return", "super", "pgdn") to one canonical name, and from
there to Playwright's and pyautogui's names and X keysyms.

Qwen2.5-VL writes keys in many spellings (pyautogui's, X keysyms, macOS words, browser `key` values), so
every spelling is normalised once here and each driver only maps canonical names. An unknown key is an
ActionFailed whose message the model can read and correct.
"""

from __future__ import annotations

from collections.abc import Sequence

from actions.text import clip
from environments.base import ActionFailed

MODIFIERS = ("ctrl", "shift", "alt", "meta")

# Canonical name -> (Playwright key, pyautogui key, X keysym name).
_NAMED: dict[str, tuple[str, str, str]] = {
    "ctrl": ("Control", "ctrl", "Control_L"),
    "shift": ("Shift", "shift", "Shift_L"),
    "alt": ("Alt", "alt", "Alt_L"),
    "meta": ("Meta", "win", "Super_L"),
    "enter": ("Enter", "enter", "Return"),
    "escape": ("Escape", "esc", "Escape"),
    "tab": ("Tab", "tab", "Tab"),
    "backspace": ("Backspace", "backspace", "BackSpace"),
    "delete": ("Delete", "delete", "Delete"),
    "insert": ("Insert", "insert", "Insert"),
    "home": ("Home", "home", "Home"),
    "end": ("End", "end", "End"),
    "pageup": ("PageUp", "pageup", "Prior"),
    "pagedown": ("PageDown", "pagedown", "Next"),
    "up": ("ArrowUp", "up", "Up"),
    "down": ("ArrowDown", "down", "Down"),
    "left": ("ArrowLeft", "left", "Left"),
    "right": ("ArrowRight", "right", "Right"),
    "space": (" ", "space", "space"),
    "capslock": ("CapsLock", "capslock", "Caps_Lock"),
    "numlock": ("NumLock", "numlock", "Num_Lock"),
    "scrolllock": ("ScrollLock", "scrolllock", "Scroll_Lock"),
    "printscreen": ("PrintScreen", "printscreen", "Print"),
    "pause": ("Pause", "pause", "Pause"),
    "contextmenu": ("ContextMenu", "apps", "Menu"),
    "volumeup": ("AudioVolumeUp", "volumeup", "XF86_AudioRaiseVolume"),
    "volumedown": ("AudioVolumeDown", "volumedown", "XF86_AudioLowerVolume"),
    "volumemute": ("AudioVolumeMute", "volumemute", "XF86_AudioMute"),
    **{f"f{i}": (f"F{i}", f"f{i}", f"F{i}") for i in range(1, 25)},
}

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
    """One key as the model wrote it -> its canonical name (a named key from `_NAMED`, or one character)."""
    if not isinstance(name, str) or name == "":
        raise ActionFailed(f"key name {name!r} is empty; give a key such as 'enter', 'ctrl' or 'a'")
    if len(name) == 1:
        # A single printable character is itself; its case matters ("A" types a capital).
        if name == " ":
            return "space"
        if name in "\n\r":
            return "enter"
        if name == "\t":
            return "tab"
        if not name.isprintable():
            raise ActionFailed(f"key {name!r} is a control character; use a named key such as 'enter' or 'tab'")
        return name
    squashed = name.strip().lower().replace("_", "").replace("-", "").replace(" ", "")
    if len(squashed) == 1:  # "A " or " a"
        return squashed
    if squashed in _NAMED:
        return squashed
    if squashed in _ALIASES:
        return _ALIASES[squashed]
    if squashed in _CHAR_WORDS:
        return _CHAR_WORDS[squashed]
    if squashed.startswith("key") and len(squashed) == 4 and squashed[3].isalpha():  # Playwright's "KeyA"
        return squashed[3]
    if squashed.startswith("digit") and len(squashed) == 6 and squashed[5].isdigit():  # "Digit5"
        return squashed[5]
    raise ActionFailed(
        f"unknown key {clip(name, 60)!r}; use a character ('a', '5', '/') or one of: "
        f"{', '.join(sorted(_NAMED))} (aliases such as ctrl, cmd, super, return, esc, pgdn also work)"
    )


def normalize_keys(keys: Sequence[str]) -> tuple[str, ...]:
    """The `keys` argument of a key action -> canonical names, pressed in order.

    Models also write a whole combination as one string ("ctrl+c", "Ctrl + Shift + T"), so each item is
    split on '+' (a lone '+' or a trailing '+', as in "ctrl++", is the plus key).
    """
    if not keys:
        raise ActionFailed("the key action needs at least one key, e.g. keys=['ctrl', 'c']")
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


# US layout: the character a key gives with shift held.
_SHIFTED = dict(zip("1234567890-=[]\\;',./`", '!@#$%^&*()_+{}|:"<>?~', strict=True))


def to_playwright(key: str, shift: bool = False) -> str:
    """A canonical key -> the name Playwright's keyboard.down/up accepts.

    Playwright does not apply a held Shift to the next key (Shift then "a" gives key "a"), so with `shift`
    a character key becomes its shifted form, as a real keyboard would send it.
    """
    if key in _NAMED:
        return _NAMED[key][0]
    if shift and len(key) == 1:
        return _SHIFTED.get(key, key.upper())
    return key


def to_pyautogui(key: str) -> str:
    """A canonical key -> pyautogui's name (single characters keep their case; pyautogui adds shift)."""
    if key in _NAMED:
        return _NAMED[key][1]
    return key


def to_x_keysym(key: str) -> int:
    """A canonical key -> its X keysym: a named key's, or a character's own (Latin-1 as is, the rest as
    Unicode keysyms, 0x01000000 + code point, which X servers accept for any character)."""
    if key in _NAMED:
        from Xlib import XK

        XK.load_keysym_group("xf86")  # the media keys' names; loading twice is a no-op
        return int(XK.string_to_keysym(_NAMED[key][2]))
    code = ord(key)
    return code if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF else 0x01000000 + code


def is_modifier(key: str) -> bool:
    return key in MODIFIERS
