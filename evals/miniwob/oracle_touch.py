"""The oracle on the phone view: each scripted answer (mouse and keyboard) as the touch answer that does the same.

left_click is a tap, left_click_drag a swipe along the same path, type stays type, Enter is system_button Enter,
a key a page takes (arrows, Tab, Backspace) is adb's key event of that name, and a wheel scroll is a swipe the
other way (the finger pulls the page up to scroll down) from the same point, longer by Chromium's touch slop (the
first ~15 CSS px of a drag, which scroll nothing) and kept on the screen. Hovering, other
buttons, double clicks and shortcuts have no touch counterpart: an answer of those is an OracleError, and the
tasks whose scripts need them are listed in NOT_TOUCH, so the oracle skips them in that view. A script that
knows it runs on the phone (Page.touch) may answer by touch itself (a long press to hover); that passes as it is.
"""

from __future__ import annotations

from collections.abc import Iterator

from actions.base import Action, Type, Wait
from actions.computer import Key, LeftClick, LeftClickDrag, Scroll
from actions.mobile import Click, LongPress, MobileKey, Swipe, SystemButton
from actions.keys import UnknownKey, is_modifier, normalize_keys
from evals.miniwob.page import OracleError

# Keyboard keys a script presses, as adb's key event names (environments.browser.touch maps them back).
_KEY_EVENTS = {"tab": "tab", "backspace": "del", "delete": "forward_del", "escape": "escape", "space": "space",
               "up": "dpad_up", "down": "dpad_down", "left": "dpad_left", "right": "dpad_right"}

# CSS px a finger moves before Chromium starts to scroll (measured: a 400 px swipe scrolls 385 px).
TOUCH_SLOP = 15

# Scripted tasks the oracle cannot do by touch, and why: listed in the README, skipped in the phone view.
NOT_TOUCH: dict[str, str] = {
    "click-menu": "opens submenus by hovering (mouse_move)",
    "click-menu-2": "opens submenus by hovering (mouse_move)",
    "choose-list": "a native `<select>` list, which headless Chromium does not draw",
    "social-media": "by touch, a tap on a post's button scored a wrong click (3 of seeds 0-7) and a tap on its "
                    "\"more\" icon opened no menu (5 of 8), where -all and -some, tapping the same buttons after a "
                    "long press, are solved: not understood yet",
    "drag-box": "jQuery UI's draggable follows the mouse only: a touch drag moves nothing",
    "drag-items": "jQuery UI's sortable follows the mouse only: a touch drag moves nothing",
    "drag-sort-numbers": "jQuery UI's sortable follows the mouse only: a touch drag moves nothing",
    "resize-textarea": "jQuery UI's resizable follows the mouse only: a touch drag moves nothing",
    "draw-line": "the drawing follows the mouse only: a touch drag draws nothing",
    "highlight-text": "selects text by dragging: a touch drag scrolls instead (a phone selects by long press)",
    "highlight-text-2": "selects text by dragging: a touch drag scrolls instead (a phone selects by long press)",
    "use-slider": "taps the track beside the handle, which Chromium's touch adjustment moves onto the handle, so "
                  "the value does not jump there",
    "hot-cold": "finds the hot spot by moving the mouse over the area (mouse_move): a finger only taps",
    "click-scroll-list": "selects a second option with ctrl+arrow and ctrl+space, a multi-select list's keys",
    "text-editor": "selects the text to style with ctrl+a",
    "sign-agreement": "the agreement's box sits near the top of the screen: each swipe has ~100 px of room, and "
                      "scrolling its text to the end takes more swipes than the task's 8 steps",
}


def touch_answer(action: Action, height: int) -> Action:
    """The touch answer for one scripted answer on a screen `height` CSS px tall; OracleError where touch has
    none."""
    if isinstance(action, (Type, Wait, LongPress)):  # a script's own touch answer passes as it is
        return action
    if isinstance(action, LeftClick) and action.coordinate is not None:
        return Click(coordinate=action.coordinate)
    if isinstance(action, LeftClickDrag) and action.start_coordinate is not None:
        return Swipe(coordinate=action.start_coordinate, coordinate2=action.coordinate)
    if isinstance(action, Key):
        return _key(action)
    if isinstance(action, Scroll) and action.coordinate is not None:
        x, y = action.coordinate
        # Positive pixels scroll up: the finger moves down by as much. A move past the screen's edge stops
        # there; the script looks again and scrolls on.
        move = action.pixels + (TOUCH_SLOP if action.pixels > 0 else -TOUCH_SLOP)
        return Swipe(coordinate=(x, y), coordinate2=(x, max(0, min(height - 1, y + move))))
    raise OracleError(f"the script's {action.action} has no touch counterpart")


def touch_answers(script: Iterator[Action], height: int) -> Iterator[Action]:
    for action in script:
        yield touch_answer(action, height)


def _key(action: Key) -> Action:
    try:
        keys = normalize_keys(action.keys)
    except UnknownKey as e:
        raise OracleError(str(e)) from e
    if len(keys) != 1 or is_modifier(keys[0]):
        raise OracleError(f"the shortcut {'+'.join(keys)} has no touch counterpart")
    (key,) = keys
    if key == "enter":
        return SystemButton(button="Enter")
    if key in _KEY_EVENTS:
        return MobileKey(text=_KEY_EVENTS[key])
    if len(key) == 1 and key.isalnum():
        return MobileKey(text=key)
    raise OracleError(f"the key {key!r} has no touch counterpart")
