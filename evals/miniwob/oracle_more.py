"""Oracle scripts for MiniWoB++'s colour pickers, the hot-cold search, the multi-select list and the text editor."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from actions.base import Action
from actions.computer import Key, LeftClick, LeftClickDrag, MouseMove
from evals.miniwob.page import OracleError, Page, match


def _type_color(p: Page, hex_color: str) -> Iterator[Action]:
    """Replace the jscolor field's text by `hex_color` (six hex digits) and submit: typing is how the picker
    takes an exact colour, which its gradient gives only to the pixel, and the reward is full only when exact."""
    yield from p.replace("#col", hex_color)
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


# hot-cold's signal bands (HOT, WARM, COLD, ICE COLD) by distance from the hidden spot, in CSS px, and the
# range the page draws that spot from (x, y offsets into its 160x125 area below the 50 px query).
_HOT_COLD_BANDS = np.array([5.0, 10.0, 40.0])
_HOT_COLD_SIGNALS = ("hot", "warm", "cold", "ice-cold")
_HOT_COLD_SPOT_X, _HOT_COLD_SPOT_Y, _HOT_COLD_QUERY_PX = (5, 155), (5, 120), 50
# A probe's point reaches the page through model-image pixels and back: a spot this near a band's edge
# may read either band, so the search never rules it out on that reading.
_HOT_COLD_SLACK_PX = 1.5
_HOT_COLD_PROBES = 30
_HOT_COLD_SAMPLE = 3000


def _bands(d: np.ndarray) -> np.ndarray:
    return np.searchsorted(_HOT_COLD_BANDS, d, side="right")


def hot_cold(p: Page, goal: str) -> Iterator[Action]:
    """The spot is hidden in a closure; the signal under the mouse tells how far it is. Keep every spot the
    readings so far allow, move to the point that splits them most evenly (preferring one that may read HOT)
    and read the signal again, until it reads HOT; then click there."""
    xs, ys = np.meshgrid(np.arange(*_HOT_COLD_SPOT_X), np.arange(*_HOT_COLD_SPOT_Y) + _HOT_COLD_QUERY_PX,
                         indexing="ij")
    spots = np.stack([xs.ravel(), ys.ravel()], 1).astype(float)
    left, top, right, bottom = p.js("() => { const r = document.getElementById('touch-area').getBoundingClientRect();"
                                    " return [r.left, r.top, r.right, r.bottom]; }")
    gx, gy = np.meshgrid(np.arange(left + 2, right - 2, 3), np.arange(top + 2, bottom - 2, 3), indexing="ij")
    probes = np.stack([gx.ravel(), gy.ravel()], 1).round()
    rng = np.random.default_rng(0)  # a fixed sample, so a seed's run is the same every time
    for _ in range(_HOT_COLD_PROBES):
        sample = spots if len(spots) <= _HOT_COLD_SAMPLE else spots[rng.choice(len(spots), _HOT_COLD_SAMPLE,
                                                                                 replace=False)]
        bands = _bands(np.hypot(*(probes[:, None, :] - sample[None, :, :]).transpose(2, 0, 1)))
        counts = np.stack([(bands == b).sum(1) for b in range(len(_HOT_COLD_SIGNALS))], 1)
        x, y = probes[int(np.argmin((counts ** 2).sum(1) / len(sample) - 0.5 * counts[:, 0]))]
        point = (int(x), int(y))
        yield MouseMove(coordinate=point)
        signal = p.js("() => { const s = document.getElementById('signal'); return s && s.className; }")
        if signal not in _HOT_COLD_SIGNALS:
            raise OracleError(f"no signal after moving to {point}: {signal!r}")
        if signal == "hot":
            yield LeftClick(coordinate=point)
            return
        band = _HOT_COLD_SIGNALS.index(signal)
        d = np.hypot(spots[:, 0] - x, spots[:, 1] - y)
        spots = spots[(_bands(d - _HOT_COLD_SLACK_PX) <= band) & (band <= _bands(d + _HOT_COLD_SLACK_PX))]
        if len(spots) == 0:
            raise OracleError("no spot fits the signals read")
    raise OracleError(f"the signal never read HOT in {_HOT_COLD_PROBES} moves")


# The options the list box shows whole now (it scrolls inside itself, and a wheel's scroll there lags behind).
_SHOWN_OPTIONS_JS = """() => { const sel = document.getElementById('options'), s = sel.getBoundingClientRect();
  return [...sel.options].map((o, i) => [i, o.getBoundingClientRect()])
    .filter(([i, r]) => r.top >= s.top && r.bottom <= s.bottom).map(([i, r]) => i); }"""


def click_scroll_list(p: Page, goal: str) -> Iterator[Action]:
    """Click the shown option nearest a wanted one and walk to it with the arrow keys (each selects the option it
    reaches alone, and scrolls the list to it); then move the focus to the other wanted one with ctrl+arrow,
    which selects nothing, and toggle it with ctrl+space: a multi-select's keys, since our clicks take no
    modifier."""
    wanted = match(r"^Select (.+) from the scroll list and click Submit\.$", goal).group(1)
    options = p.js("() => [...document.querySelectorAll('#options option')].map((o) => o.textContent)")
    # Names may hold ", " themselves: find the one or two options whose joined names are the goal's list.
    picks = next(([i] for i, o in enumerate(options) if o == wanted), None) or next(
        ([i, j] for i, a in enumerate(options) for j, b in enumerate(options) if i != j and f"{a}, {b}" == wanted),
        None)
    if picks is None:
        raise OracleError(f"no options make {wanted!r}: {options}")
    shown = p.js(_SHOWN_OPTIONS_JS)
    if not shown:
        raise OracleError("the list box shows no option whole")
    start, first = min(((v, t) for v in shown for t in picks), key=lambda vt: abs(vt[0] - vt[1]))
    yield from p.click("#options option", nth=start)
    for _ in range(abs(first - start)):
        yield Key(keys=["down" if first > start else "up"])
    for other in (t for t in picks if t != first):
        for _ in range(abs(other - first)):
            yield Key(keys=["ctrl", "down" if other > first else "up"])
        yield Key(keys=["ctrl", "space"])
    chosen = p.js("() => [...document.getElementById('options').selectedOptions].map((o) => o.index)")
    if sorted(chosen) != sorted(picks):
        raise OracleError(f"options {chosen} are selected, not {picks}")
    yield from p.click("#area button", text="Submit")


# Where characters [start, end) of the editor's one line of text lie: the first's left and the last's right edge.
_TEXT_SPAN_JS = """([start, end]) => { const node = document.querySelector('#editor .ql-editor p').firstChild;
  const range = document.createRange(); range.setStart(node, start); range.setEnd(node, start + 1);
  const first = range.getBoundingClientRect(); range.setStart(node, end - 1); range.setEnd(node, end);
  const last = range.getBoundingClientRect();
  return [first.left, first.top + first.height / 2, last.right, last.top + last.height / 2]; }"""
_EDITOR_BUTTONS = {"bold": ".ql-bold", "italics": ".ql-italic", "underlined": ".ql-underline"}


def text_editor(p: Page, goal: str) -> Iterator[Action]:
    """Select the word (a drag from inside its first letter to just past its last: a double click would leave
    out a comma the page counts as part of it) or everything (ctrl+a), then press the toolbar's style button or
    pick the colour's first swatch, and submit."""
    m = match(r"give (?:the text (\S+)|everything) the (?:style|color) (\w+)|make everything the color (\w+)", goal)
    word, style = m.group(1), m.group(2) or m.group(3)
    text = p.js("() => editor.getText().replace(/\\n$/, '')")
    if word is None:
        yield from p.click("#editor .ql-editor")
        yield Key(keys=["ctrl", "a"])
        start, length = 0, len(text)
    else:
        words = text.split(" ")
        if word not in words:
            raise OracleError(f"no word {word!r} in {text!r}")
        start = sum(len(w) + 1 for w in words[:words.index(word)])
        length = len(word)
        x0, y0, x1, y1 = p.js(_TEXT_SPAN_JS, [start, start + length])
        yield LeftClickDrag(start_coordinate=(int(x0) + 1, int(y0)), coordinate=(int(x1) + 1, int(y1)))
    selection = p.js("() => editor.getSelection()")
    if not selection or (selection["index"], selection["length"]) != (start, length):
        raise OracleError(f"the editor's selection is {selection}, not {length} characters from {start}")
    if style in _EDITOR_BUTTONS:
        yield from p.click(f"#area .ql-toolbar {_EDITOR_BUTTONS[style]}")
    else:
        yield from p.click("#area .ql-toolbar .ql-color .ql-picker-label")
        swatch = p.js("(c) => COLOR_MAP[c] && COLOR_MAP[c][0]", style)
        if not swatch:
            raise OracleError(f"the page has no colour {style!r}")
        yield from p.click(f'#area .ql-toolbar .ql-color .ql-picker-item[data-value="{swatch}"]')
    yield from p.click("#subbtn")


SCRIPTS = {
    "text-editor": text_editor,
    "click-scroll-list": click_scroll_list,
    "hot-cold": hot_cold,
    "use-colorwheel": use_colorwheel,
    "use-colorwheel-2": use_colorwheel_2,
}
