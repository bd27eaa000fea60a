"""Oracle scripts for MiniWoB++'s dragging and pointing tasks: boxes, shapes, sortable lists, the ticket list."""

from __future__ import annotations

from collections.abc import Iterator

from actions.base import Action
from actions.computer import LeftClickDrag
from evals.miniwob.page import OracleError, Page, match

# How far a shape is dragged, in CSS px: well past any rounding, well inside the 160 px task area.
_DRAG_PX = 25
_DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}


def drag_box(p: Page, goal: str) -> Iterator[Action]:
    yield LeftClickDrag(start_coordinate=p.point("#draggableSmall"), coordinate=p.point("#draggableLarge"))
    yield from p.click("#subbtn")


def drag_single_shape(p: Page, goal: str) -> Iterator[Action]:
    dx, dy = _DIRECTIONS[match(r"Drag the item (\w+)", goal).group(1)]
    x, y = p.point("#area svg .black-shape")
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


SCRIPTS = {
    "drag-box": drag_box,
    "drag-single-shape": drag_single_shape,
    "drag-items": drag_items,
    "drag-sort-numbers": drag_sort_numbers,
    "buy-ticket": buy_ticket,
    "ascending-numbers": ascending_numbers,
}
