"""Oracle scripts for MiniWoB++'s colour pickers, the hot-cold search and the multi-select scroll list."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from actions.base import Action, Type
from actions.computer import Key, LeftClick, MouseMove
from evals.miniwob.page import OracleError, Page, match


def _type_color(p: Page, hex_color: str) -> Iterator[Action]:
    """Replace the jscolor field's text by `hex_color` (six hex digits) and submit: typing is how the picker
    takes an exact colour, which its gradient gives only to the pixel, and the reward is full only when exact."""
    yield from p.click("#col")
    yield Key(keys=["ctrl", "a"])
    yield Type(text=hex_color)
    yield from p.click("#query")  # jscolor closes its picker, which covers the button, on a press elsewhere
    yield from p.click("#subbtn")


def use_colorwheel(p: Page, goal: str) -> Iterator[Action]:
    name = match(r"Select (\w+) with the color picker", goal).group(1)
    hex_color = p.js("(name) => ui_utils.colorNameToHex(name)", name)
    if not hex_color:
        raise OracleError(f"the page knows no colour {name!r}")
    yield from _type_color(p, hex_color.lstrip("#"))


def use_colorwheel_2(p: Page, goal: str) -> Iterator[Action]:
    """The colour is shown, not named: read it from the swatch's style."""
    rgb = p.js("() => getComputedStyle(document.querySelector('#query .cc')).backgroundColor")
    channels = match(r"rgb\((\d+), (\d+), (\d+)\)", rgb).groups()
    yield from _type_color(p, "".join(f"{int(c):02x}" for c in channels))


SCRIPTS = {
    "use-colorwheel": use_colorwheel,
    "use-colorwheel-2": use_colorwheel_2,
}
