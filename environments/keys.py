"""Canonical key names (`actions.keys`) as each driver presses them: Playwright's and pyautogui's names and X
keysyms. Drivers normalise a key action's keys here, so an unknown key reaches them as ActionFailed.
"""

from __future__ import annotations

from collections.abc import Sequence

from actions import keys as vocabulary
from environments.base import ActionFailed

# Canonical name (every one of actions.keys.NAMED_KEYS) -> (Playwright key, pyautogui key, X keysym name).
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


def normalize_keys(keys: Sequence[str]) -> tuple[str, ...]:
    """`actions.keys.normalize_keys`, an unknown key refused as ActionFailed, the error a driver's action raises."""
    try:
        return vocabulary.normalize_keys(keys)
    except vocabulary.UnknownKey as e:
        raise ActionFailed(str(e)) from None
