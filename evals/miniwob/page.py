"""Read-only access to a MiniWoB++ page for oracle scripts: where elements are, and how to reach them.

Everything here reads the DOM, or the screen where only the screen shows something (the open list of a native
`<select>`); acting is left to the actions it yields (clicks, wheel scrolls, waits).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator
from typing import Any

from PIL import ImageChops

from actions.base import Action, Type, Wait
from actions.computer import Key, LeftClick, MouseMove, Scroll
from actions.mobile import LongPress
from environments.base import Observation

MAX_WAITS = 4

# Where an element is and what clips it: the viewport and every scrolling ancestor.
_GEOMETRY_JS = """
([sel, text, contains, nth, fx]) => {
  const norm = (s) => s.replace(/\\s+/g, ' ').trim();
  let els = [...document.querySelectorAll(sel)].filter((e) => {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || getComputedStyle(e).visibility === 'hidden') return false;
    if (text !== null && norm(e.textContent) !== text) return false;
    if (contains !== null && !norm(e.textContent).includes(contains)) return false;
    return true;
  });
  const el = els[nth];
  if (!el) return null;
  const r = el.getBoundingClientRect();
  let top = 0, bottom = window.innerHeight, scroller = null;
  for (let a = el.parentElement; a; a = a.parentElement) {
    const s = getComputedStyle(a);
    if (/(auto|scroll)/.test(s.overflowY) && a.scrollHeight > a.clientHeight) {
      const ar = a.getBoundingClientRect();
      top = Math.max(top, ar.top); bottom = Math.min(bottom, ar.bottom);
      if (!scroller) scroller = ar;
    }
  }
  const sr = scroller || {left: 0, top: 0, width: window.innerWidth, height: window.innerHeight};
  // Click where the element itself gets the click: the centre unless something overlaps it there.
  let x = r.left + (fx === null ? 0.5 : fx) * r.width, y = r.top + r.height / 2;
  const hits = (px, py) => { const h = document.elementFromPoint(px, py); return h && (h === el || el.contains(h)); };
  if (fx === null && y >= top && y <= bottom && !hits(x, y)) {
    search: for (const fy of [0.5, 0.3, 0.7, 0.15, 0.85]) {
      for (const fx of [0.5, 0.3, 0.7, 0.15, 0.85]) {
        const px = r.left + fx * r.width, py = r.top + fy * r.height;
        if (hits(px, py)) { x = px; y = py; break search; }
      }
    }
  }
  return {x, y, top, bottom, sx: sr.left + sr.width / 2, sy: sr.top + sr.height / 2};
}
"""


def quoted(goal: str) -> list[str]:
    """The goal's "double-quoted" parts, in order."""
    return re.findall(r'"([^"]*)"', goal)


def match(pattern: str, goal: str) -> re.Match[str]:
    """`pattern` searched in the goal; a goal the script does not know is the script's error."""
    m = re.search(pattern, goal)
    if m is None:
        raise OracleError(f"the goal {goal!r} does not match {pattern!r}")
    return m


class OracleError(RuntimeError):
    """The script could not find what it needed on the page (the oracle then reports failure)."""


class Page:
    """Read-only helpers over a Playwright page for scripts; `observe` gives what the screen shows now."""

    def __init__(self, page: Any, observe: Callable[[], Observation] | None = None, touch: bool = False) -> None:
        self.page = page
        self._observe = observe
        # The answers go to a phone (touch_answers turns them into taps and swipes): no shortcuts, no clipboard.
        self.touch = touch

    def observe(self) -> Observation:
        if self._observe is None:
            raise OracleError("this script reads the screen, and was given no way to observe it")
        return self._observe()

    @staticmethod
    def changed_box(before: Observation, after: Observation) -> tuple[float, float, float, float] | None:
        """Where the screen changed between two observations, (left, top, right, bottom) in CSS px."""
        box = ImageChops.difference(before.screenshot, after.screenshot).getbbox()
        scale = after.geometry.scale
        return None if box is None else (box[0] / scale, box[1] / scale, box[2] / scale, box[3] / scale)

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def geometry(self, sel: str, text: str | None = None, contains: str | None = None, nth: int = 0,
                 fx: float | None = None) -> Any:
        """Where to click the `nth` visible match (its centre, or `fx` of its width from the left) and what
        clips it; None when there is no such element."""
        return self.js(_GEOMETRY_JS, [sel, text, contains, nth, fx])

    def exists(self, sel: str, text: str | None = None, contains: str | None = None) -> bool:
        return self.geometry(sel, text, contains) is not None

    def wait_for(self, sel: str) -> Iterator[Action]:
        """Wait (a Wait action at a time) until `sel` shows; fail after MAX_WAITS."""
        for _ in range(MAX_WAITS):
            if self.exists(sel):
                return
            yield Wait(time=0.5)
        if not self.exists(sel):
            raise OracleError(f"{sel!r} never showed")

    def click(self, sel: str, text: str | None = None, contains: str | None = None, nth: int = 0,
              fx: float | None = None) -> Iterator[Action]:
        """Scroll the element into view if needed (wheel over its scroller), then click its centre. An element
        not there yet (a menu behind a delay) is waited for, a few times, like a user would."""
        x, y = yield from self.reveal(sel, text, contains, nth, fx)
        yield LeftClick(coordinate=(x, y))

    def hover_click(self, sel: str, text: str | None = None, nth: int = 0) -> Iterator[Action]:
        """Move onto the element, then click it: for elements that change under a mouse that arrives (an icon
        swapping its image on hover), which a click in the same instant misses."""
        x, y = yield from self.reveal(sel, text, None, nth, None)
        if self.touch:
            # A finger held on it hovers it (Chromium sets :hover on the touch) without clicking.
            yield LongPress(coordinate=(x, y), time=0.6)
        else:
            yield MouseMove(coordinate=(x, y))
        yield LeftClick(coordinate=(x, y))

    def reveal(self, sel: str, text: str | None = None, contains: str | None = None, nth: int = 0,
               fx: float | None = None) -> Generator[Action, None, tuple[int, int]]:
        """Wait for the element and scroll it into view; returns the point to act on."""
        waits = 0
        for _ in range(8 + MAX_WAITS):
            g = self.geometry(sel, text, contains, nth, fx)
            if g is None:
                if waits == MAX_WAITS:
                    raise OracleError(f"no visible element {sel!r} text={text!r} contains={contains!r} nth={nth}")
                waits += 1
                yield Wait(time=0.5)
                continue
            if g["top"] + 3 <= g["y"] <= g["bottom"] - 3:
                return int(g["x"]), int(g["y"])
            # Positive pixels scroll up; bring the element's centre to the middle of what clips it.
            delta = g["y"] - (g["top"] + g["bottom"]) / 2
            yield Scroll(coordinate=(int(g["sx"]), int(g["sy"])), pixels=-int(round(delta)))
        raise OracleError(f"could not scroll {sel!r} into view")

    def fill(self, sel: str, text: str, nth: int = 0) -> Iterator[Action]:
        """Click into a field and type."""
        yield from self.click(sel, nth=nth)
        yield Type(text=text)

    def replace(self, sel: str, text: str, fx: float = 0.9) -> Iterator[Action]:
        """Click into a field past its text (`fx` of its width from the left) and replace that text: one
        Backspace per character, since a phone has no select-all key, then type."""
        yield from self.click(sel, fx=fx)
        for _ in range(self.js("(sel) => document.querySelector(sel).value.length", sel)):
            yield Key(keys=["backspace"])
        yield Type(text=text)

    def point(self, sel: str, nth: int = 0) -> tuple[int, int]:
        """The centre of the `nth` visible match, which must be in view."""
        g = self.geometry(sel, nth=nth)
        if g is None:
            raise OracleError(f"no visible element {sel!r} nth={nth}")
        return int(g["x"]), int(g["y"])
