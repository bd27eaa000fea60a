"""The mobile action space's key names: Android key codes by name (android.view.KeyEvent), the subset agents
use, and the spellings models write for them.

Shared by the ADB driver (to check a key before sending it), the simulated phone (to act on it), the touch
browser (to press the keyboard key an event stands for) and the safety policy (to compare keys).
"""

from __future__ import annotations

KEYCODES: dict[str, int] = {
    "KEYCODE_UNKNOWN": 0, "KEYCODE_SOFT_LEFT": 1, "KEYCODE_SOFT_RIGHT": 2, "KEYCODE_HOME": 3,
    "KEYCODE_BACK": 4, "KEYCODE_CALL": 5, "KEYCODE_ENDCALL": 6,
    **{f"KEYCODE_{d}": 7 + d for d in range(10)},
    "KEYCODE_STAR": 17, "KEYCODE_POUND": 18, "KEYCODE_DPAD_UP": 19, "KEYCODE_DPAD_DOWN": 20,
    "KEYCODE_DPAD_LEFT": 21, "KEYCODE_DPAD_RIGHT": 22, "KEYCODE_DPAD_CENTER": 23, "KEYCODE_VOLUME_UP": 24,
    "KEYCODE_VOLUME_DOWN": 25, "KEYCODE_POWER": 26, "KEYCODE_CAMERA": 27, "KEYCODE_CLEAR": 28,
    **{f"KEYCODE_{chr(ord('A') + i)}": 29 + i for i in range(26)},
    "KEYCODE_COMMA": 55, "KEYCODE_PERIOD": 56, "KEYCODE_TAB": 61, "KEYCODE_SPACE": 62, "KEYCODE_ENTER": 66,
    "KEYCODE_DEL": 67, "KEYCODE_MENU": 82, "KEYCODE_NOTIFICATION": 83, "KEYCODE_SEARCH": 84,
    "KEYCODE_MEDIA_PLAY_PAUSE": 85, "KEYCODE_MEDIA_STOP": 86, "KEYCODE_MEDIA_NEXT": 87,
    "KEYCODE_MEDIA_PREVIOUS": 88, "KEYCODE_PAGE_UP": 92, "KEYCODE_PAGE_DOWN": 93, "KEYCODE_ESCAPE": 111,
    "KEYCODE_FORWARD_DEL": 112, "KEYCODE_MOVE_HOME": 122, "KEYCODE_MOVE_END": 123, "KEYCODE_VOLUME_MUTE": 164,
    "KEYCODE_APP_SWITCH": 187, "KEYCODE_BRIGHTNESS_DOWN": 220, "KEYCODE_BRIGHTNESS_UP": 221,
    "KEYCODE_SLEEP": 223, "KEYCODE_WAKEUP": 224, "KEYCODE_ASSIST": 219,
}


def normalise_key(name: str) -> str | None:
    """A model's key name ("volume_up", "Volume Up", "KEYCODE_HOME", "66") to adb's name, or None if unknown."""
    key = name.strip().upper().replace(" ", "_").replace("-", "_")
    if key.isascii() and key.isdigit():  # "²" is a digit to isdigit() but not to int()
        code = int(key)
        return next((k for k, v in KEYCODES.items() if v == code), None)
    key = key if key.startswith("KEYCODE_") else f"KEYCODE_{key}"
    key = _ALIASES.get(key, key)
    return key if key in KEYCODES else None


_ALIASES = {"KEYCODE_BACKSPACE": "KEYCODE_DEL", "KEYCODE_DELETE": "KEYCODE_DEL", "KEYCODE_RETURN": "KEYCODE_ENTER",
            "KEYCODE_ESC": "KEYCODE_ESCAPE", "KEYCODE_RECENTS": "KEYCODE_APP_SWITCH",
            "KEYCODE_RECENT_APPS": "KEYCODE_APP_SWITCH", "KEYCODE_VOLUMEUP": "KEYCODE_VOLUME_UP",
            "KEYCODE_VOLUMEDOWN": "KEYCODE_VOLUME_DOWN", "KEYCODE_MUTE": "KEYCODE_VOLUME_MUTE"}
