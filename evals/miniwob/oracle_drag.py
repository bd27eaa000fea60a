"""Oracle scripts for MiniWoB++'s dragging and pointing tasks: boxes, shapes, sortable lists, the ticket list."""

from __future__ import annotations

import re
from collections.abc import Iterator

from actions.base import Action
from actions.computer import Key, LeftClick, LeftClickDrag
from evals.miniwob.page import OracleError, Page, match

# How far a shape is dragged, in CSS px: well past any rounding, well inside the 160 px task area.
_DRAG_PX = 25
_DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}


def drag_box(p: Page, goal: str) -> Iterator[Action]:
    """Move the small box by the distance between the boxes' centres: the large box's centre itself may be
    under the small box, so a visible point of the large one is no target."""
    x, y = p.point("#draggableSmall")
    dx, dy = p.js("() => { const c = (s) => { const r = document.querySelector(s).getBoundingClientRect();"
                  " return [r.left + r.width / 2, r.top + r.height / 2]; };"
                  " const [sx, sy] = c('#draggableSmall'), [lx, ly] = c('#draggableLarge');"
                  " return [lx - sx, ly - sy]; }")
    yield LeftClickDrag(start_coordinate=(x, y), coordinate=(round(x + dx), round(y + dy)))
    yield from p.click("#subbtn")


def drag_single_shape(p: Page, goal: str) -> Iterator[Action]:
    """drag-single-shape and drag-circle: drag the one shape a little in the asked direction."""
    dx, dy = _DIRECTIONS[match(r"Drag the (?:item|circle) (\w+)", goal).group(1)]
    x, y = p.point("#area svg .black-shape, #area svg .black-circle")
    box = p.js("() => { const r = document.querySelector('#area svg').getBoundingClientRect();"
               " return [r.left, r.top, r.right, r.bottom]; }")
    end = (min(max(x + dx * _DRAG_PX, box[0] + 5), box[2] - 5), min(max(y + dy * _DRAG_PX, box[1] + 5), box[3] - 5))
    yield LeftClickDrag(start_coordinate=(x, y), coordinate=(int(end[0]), int(end[1])))
    yield from p.click("#subbtn")


def _sortable_drag(p: Page, source: int, target: int) -> Action:
    """Drag list item `source` onto the place of item `target` (0-based): a little past its middle, on the
    side it comes from, so jQuery UI's sortable puts it there."""
    sx, sy = p.point("#sortable li", nth=source)
    tx, ty = p.point("#sortable li", nth=target)
    height = p.js("(i) => document.querySelectorAll('#sortable li')[i].getBoundingClientRect().height", target)
    offset = int(height * 0.3) * (1 if target > source else -1)
    return LeftClickDrag(start_coordinate=(sx, sy), coordinate=(tx, ty + offset))


def _items(p: Page) -> list[str]:
    return p.js("() => [...document.querySelectorAll('#sortable li')].map((li) => li.textContent.trim())")


def drag_items(p: Page, goal: str) -> Iterator[Action]:
    name, where = match(r"Drag (.+?) (to the top|to the bottom|down by one position|up by one position|"
                        r"to the \d+\w\w position)\.", goal).groups()
    items = _items(p)
    source = items.index(name)
    target = {"to the top": 0, "to the bottom": len(items) - 1, "down by one position": source + 1,
              "up by one position": source - 1}.get(where)
    if target is None:
        target = int(match(r"(\d+)", where).group(1)) - 1
    yield _sortable_drag(p, source, target)  # the page judges the drop itself


def drag_sort_numbers(p: Page, goal: str) -> Iterator[Action]:
    """Selection sort by drags: the smallest number left goes to the first unsorted place."""
    for place in range(len(_items(p))):
        values = [int(v) for v in _items(p)]
        smallest = min(range(place, len(values)), key=lambda i: values[i])
        if smallest != place:
            yield _sortable_drag(p, smallest, place)
    if [int(v) for v in _items(p)] != sorted(int(v) for v in _items(p)):
        raise OracleError(f"the list is not sorted after the drags: {_items(p)}")
    yield from p.click("#subbtn")


def buy_ticket(p: Page, goal: str) -> Iterator[Action]:
    want = match(r"Buy the ticket with the (cheapest cost|shortest duration|longest duration|most expensive cost)",
                 goal).group(1)
    attr = "price" if "cost" in want else "duration"
    sel = ".buy-ticket" if attr == "price" else ".time-duration"
    values = p.js(f"() => [...document.querySelectorAll('#area {sel}')].map((e) => +e.dataset.{attr})")
    best = (min if want in ("cheapest cost", "shortest duration") else max)(range(len(values)), key=values.__getitem__)
    yield from p.click("#area .buy-ticket", nth=best)


def ascending_numbers(p: Page, goal: str) -> Iterator[Action]:
    """Click 1; the page then hides the numbers under boxes (data-index is the number): click them in order."""
    n = p.js("() => document.querySelectorAll('#area_svg text').length")
    yield from p.click("#area_svg text", text="1")
    for k in range(2, n + 1):
        yield from p.click(f'#area_svg rect[data-index="{k}"]')


# A slider's range and where its track lies, from jQuery UI's own options.
_SLIDER_JS = """(sel) => { const s = $(sel); const r = s[0].getBoundingClientRect();
  return {min: s.slider('option', 'min'), max: s.slider('option', 'max'), value: s.slider('value'),
          vertical: s.slider('option', 'orientation') === 'vertical',
          left: r.left, top: r.top, width: r.width, height: r.height}; }"""
_SLIDER_KEYS = 6


def _set_slider(p: Page, sel: str, target: int) -> Iterator[Action]:
    """Click the track where `target` lies (the handle jumps there and takes the focus), then step the last
    values with the arrow keys. Up and right both step up (down and left down) and alternate, since the loop
    stops an agent that repeats an action whose effect, one digit, its screen check cannot see."""
    s = p.js(_SLIDER_JS, sel)
    if not s["min"] <= target <= s["max"]:
        raise OracleError(f"{target} is outside the slider's {s['min']}..{s['max']}")
    frac = (target - s["min"]) / (s["max"] - s["min"])
    if s["vertical"]:
        point = (s["left"] + s["width"] / 2, s["top"] + (1 - frac) * s["height"])
    else:
        point = (s["left"] + frac * s["width"], s["top"] + s["height"] / 2)
    yield LeftClick(coordinate=(int(point[0]), int(point[1])))
    for i in range(_SLIDER_KEYS):
        value = p.js(_SLIDER_JS, sel)["value"]
        if value == target:
            return
        keys = ("right", "up") if value < target else ("left", "down")
        yield Key(keys=[keys[i % 2]])
    raise OracleError(f"the slider {sel} stands at {p.js(_SLIDER_JS, sel)['value']}, not {target}")


def use_slider(p: Page, goal: str) -> Iterator[Action]:
    yield from _set_slider(p, "#slider", int(match(r"Select (-?\d+) with the slider", goal).group(1)))
    yield from p.click("#subbtn")


def use_slider_2(p: Page, goal: str) -> Iterator[Action]:
    combo = [int(v) for v in match(r"combination \[([-\d,]+)\]", goal).group(1).split(",")]
    for i, value in enumerate(combo):
        yield from _set_slider(p, f"#slider-{i + 1}", value)
    yield from p.click("#subbtn")


def form_sequence(p: Page, goal: str) -> Iterator[Action]:
    m = match(r"Select (-?\d+) with the slider, click the (\d+)(?:st|nd|rd|th) checkbox", goal)
    yield from _set_slider(p, "#slider", int(m.group(1)))
    yield from p.click(f"#checkbox-{m.group(2)}")
    yield from p.click("#subbtn")


def number_checkboxes(p: Page, goal: str) -> Iterator[Action]:
    """Tick the 7x4 grid as the digit's pattern (the page's PATTERNS) says, then submit."""
    digit = int(match(r'Draw the number "(\d)"', goal).group(1))
    wanted = [v == 1 for row in p.js("(d) => PATTERNS[d]", digit) for v in row]
    boxes = "#area p input[type=checkbox]"
    ticked = p.js(f"() => [...document.querySelectorAll('{boxes}')].map((b) => b.checked)")
    for i, (want, now) in enumerate(zip(wanted, ticked, strict=True)):
        if want != now:
            yield from p.click(boxes, nth=i)
    yield from p.click("#subbtn")


# The first and last line boxes of an element's text: where a drag selecting all of it starts and ends.
_TEXT_ENDS_JS = """(sel) => { const range = document.createRange();
  range.selectNodeContents(document.querySelector(sel)); const rects = [...range.getClientRects()];
  const first = rects[0], last = rects[rects.length - 1];
  return [first.left, first.top + first.height / 2, last.right, last.top + last.height / 2]; }"""


def highlight_text(p: Page, goal: str) -> Iterator[Action]:
    """Select the paragraph's text by dragging over it, from its first letter to past its last, then submit."""
    n = re.search(r"(\d+)(?:st|nd|rd|th) paragraph", goal)
    sel = f"#randomText p:nth-of-type({n.group(1)})" if n else "#randomText"
    x0, y0, x1, y1 = p.js(_TEXT_ENDS_JS, sel)
    yield LeftClickDrag(start_coordinate=(int(x0), int(y0)), coordinate=(int(x1) + 2, int(y1)))
    yield from p.click("#subbtn")


# How far the textarea's edge is dragged: past the page's strict comparison, within the task area.
_RESIZE_PX = 15


def resize_textarea(p: Page, goal: str) -> Iterator[Action]:
    """Drag jQuery UI's resize handle: the bottom one for the height, the right one for the width."""
    dim, way = match(r"so that the (height|width) is (smaller|larger)", goal).groups()
    x, y = p.point("#area .ui-resizable-s" if dim == "height" else "#area .ui-resizable-e")
    delta = _RESIZE_PX if way == "larger" else -_RESIZE_PX
    end = (x, y + delta) if dim == "height" else (x + delta, y)
    yield LeftClickDrag(start_coordinate=(x, y), coordinate=end)
    yield from p.click("#area #submit")


# How long a drawn line is: the page keeps a point every 10 px and wants the points spread over more than 5 px.
_LINE_PX = 40


def draw_line(p: Page, goal: str) -> Iterator[Action]:
    """Draw from the dot itself (the page wants a point within 6 px of it) away along the asked direction,
    towards the side of the drawing area with more room."""
    kind = match(r"Draw a (horizontal|vertical) line", goal).group(1)
    x, y = p.point("#area svg #circ")
    box = p.js("() => { const r = document.querySelector('#area svg').getBoundingClientRect();"
               " return [r.left, r.top, r.right, r.bottom]; }")
    if kind == "horizontal":
        end = (x + _LINE_PX if box[2] - x > x - box[0] else x - _LINE_PX, y)
    else:
        end = (x, y + _LINE_PX if box[3] - y > y - box[1] else y - _LINE_PX)
    yield LeftClickDrag(start_coordinate=(x, y), coordinate=end)
    yield from p.click("#controls button")


def drag_shapes(p: Page, goal: str) -> Iterator[Action]:
    """Every shape of the asked kind into the box (each to a spot of its own), then submit."""
    kind = match(r"Drag all (rectangles|circles|triangles) into the black box", goal).group(1)
    tag = {"rectangles": "rect:not(#shape-container)", "circles": "circle", "triangles": "polygon"}[kind]
    box = p.js("() => { const r = document.getElementById('shape-container').getBoundingClientRect();"
               " return [r.left, r.top, r.width, r.height]; }")
    n = p.js(f"() => document.querySelectorAll('#area_svg {tag}').length")
    for i in range(n):
        # Spots along the box's middle row, so shapes dropped earlier are not picked up again.
        spot = (int(box[0] + box[2] * (i + 1) / (n + 1)), int(box[1] + box[3] / 2))
        inside = p.js(f"""([i, l, t, w, h]) => {{ const r = document.querySelectorAll('#area_svg {tag}')[i]
                          .getBoundingClientRect(); return r.left >= l && r.right <= l + w && r.top >= t
                          && r.bottom <= t + h; }}""", [i, *box])
        if not inside:
            yield LeftClickDrag(start_coordinate=p.point(f"#area_svg {tag}", nth=i), coordinate=spot)
    yield from p.click("#subbtn")


SCRIPTS = {
    "drag-circle": drag_single_shape,
    "draw-line": draw_line,
    "drag-shapes": drag_shapes,
    "resize-textarea": resize_textarea,
    "highlight-text": highlight_text,
    "highlight-text-2": highlight_text,
    "use-slider": use_slider,
    "use-slider-2": use_slider_2,
    "form-sequence": form_sequence,
    "number-checkboxes": number_checkboxes,
    "drag-box": drag_box,
    "drag-single-shape": drag_single_shape,
    "drag-items": drag_items,
    "drag-sort-numbers": drag_sort_numbers,
    "buy-ticket": buy_ticket,
    "ascending-numbers": ascending_numbers,
}
