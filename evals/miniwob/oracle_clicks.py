"""Oracle scripts for MiniWoB++'s clicking tasks: shapes, colours, menus, tabs, trees, lists of posts."""

from __future__ import annotations

import re
from collections.abc import Iterator

from actions.base import Action, Wait
from actions.computer import MouseMove
from evals.miniwob.page import OracleError, Page, match, quoted

# Each SVG item of common/shapes.js as the goal describes it: its kind (letter, digit, shape), its text
# (the letter, digit or shape name), colour and size (large items are drawn 20 px, small ones 10 px).
SHAPES_JS = """(sel) => [...document.querySelectorAll(sel)].map((e) => {
  const tag = e.tagName.toLowerCase();
  const px = tag === 'text' ? parseFloat(e.getAttribute('font-size')) : e.getBBox().width;
  const shape = {rect: 'rectangle', circle: 'circle', polygon: 'triangle'}[tag];
  const text = shape || e.textContent;
  const type = shape ? 'shape' : /^[0-9]$/.test(text) ? 'digit' : 'letter';
  return {type, text, color: e.getAttribute('fill'), size: px > 15 ? 'large' : 'small'};
})"""
SHAPE_KINDS = "shape|digit|letter|item|circle|rectangle|triangle"


def shape_matches(shape: dict[str, str], size: str | None, color: str | None, what: str) -> bool:
    return ((size is None or shape["size"] == size) and (color is None or shape["color"] == color)
            and (what == "item" or what in (shape["text"], shape["type"])))


def click_shape(p: Page, goal: str) -> Iterator[Action]:
    m = match(rf"Click on a (?:(large|small) )?(?:(\w+) )?({SHAPE_KINDS}|\S)$", goal.rstrip("."))
    size, color, what = m.groups()
    items = p.js(SHAPES_JS, "#area_svg > *")
    for i, shape in enumerate(items):
        if shape_matches(shape, size, color, what):
            yield from p.click("#area_svg > *", nth=i)
            return
    raise OracleError(f"no item is a {goal!r}: {items}")


def click_color(p: Page, goal: str) -> Iterator[Action]:
    color = match(r"Click on the (.+) colored box", goal).group(1)
    yield from p.click(f'#area .color[data-color="{color}"]')


def click_shades(p: Page, goal: str) -> Iterator[Action]:
    color = match(r"shades of (\w+)", goal).group(1)
    n = p.js("() => document.querySelectorAll('#area span').length")
    for i in range(n):
        if p.js("(i) => document.querySelectorAll('#area span')[i].dataset.color", i) == color:
            yield from p.click("#area span", nth=i)
    yield from p.click("#area #submit")


def click_test_transfer(p: Page, goal: str) -> Iterator[Action]:
    yield from p.click("#area button", text=match(r"Click button (\w+)", goal).group(1))


def click_collapsible_2(p: Page, goal: str) -> Iterator[Action]:
    """Open each section until the link shows (an accordion shows one section at a time)."""
    link = quoted(goal)[0]
    for section in range(p.js("() => document.querySelectorAll('#area h3').length")):
        if not p.exists("#area .alink", text=link):
            yield from p.click("#area h3", nth=section)
            yield Wait(time=0.5)  # the section slides open; the link moves until it has
        if p.exists("#area .alink", text=link):
            yield from p.click("#area .alink", text=link)
            return
    raise OracleError(f"no section holds the link {link!r}")


def click_tab_2(p: Page, goal: str) -> Iterator[Action]:
    """Open the tab whose panel holds the link and click it. In click-tab-2-medium the link may be nowhere:
    then the second tab (emptied by the page) is the answer, and a click on it while the link exists loses."""
    link = quoted(goal)[0]
    tab = p.js("""(link) => [...document.querySelectorAll('#area .ui-tabs-panel')].findIndex((panel) =>
                    [...panel.querySelectorAll('.alink')].some((a) => a.textContent === link))""", link)
    if tab < 0:
        yield from p.click("#area ul.ui-tabs-nav a", nth=1)
        return
    if not p.exists("#area .alink", text=link):
        yield from p.click("#area ul.ui-tabs-nav a", nth=tab)
    yield from p.click("#area .alink", text=link)


def click_menu(p: Page, goal: str) -> Iterator[Action]:
    """Hover along the path "A>B>C" (jQuery UI opens a submenu on hover, after a delay), then click the leaf."""
    path = goal.removeprefix("Select ").split(">")
    sel = "#area li > div.ui-menu-item-wrapper"
    for depth, name in enumerate(path):
        if depth < len(path) - 1:
            yield MouseMove(coordinate=p.point(sel, nth=_nth_with_text(p, sel, name)))
            yield Wait(time=0.5)
        else:
            yield from p.click(sel, nth=_nth_with_text(p, sel, name))


def _nth_with_text(p: Page, sel: str, text: str) -> int:
    """Among the visible matches of `sel`, the index of the one whose own text (not its submenu's) is `text`."""
    texts = p.js("""(sel) => [...document.querySelectorAll(sel)].filter((e) => {
                      const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; })
                    .map((e) => e.textContent.trim())""", sel)
    if text not in texts:
        raise OracleError(f"no visible {sel!r} reads {text!r}: {texts}")
    return texts.index(text)


def click_menu_2(p: Page, goal: str) -> Iterator[Action]:
    labels = quoted(goal)
    if len(labels) > 1:
        label = labels[1]
    else:  # "the item with the <icon> icon": the utterance names the icon's class
        icon = match(r"ui-icon-[\w-]+", p.js("() => document.getElementById('query').innerHTML")).group(0)
        label = p.js("(icon) => Object.keys(PROBLEM_SET).find((k) => PROBLEM_SET[k] === icon)", icon)
    yield from p.click("#open-menu")
    wrapper = "#menu li > div.ui-menu-item-wrapper"
    parent = p.js("""(label) => { const item = [...document.querySelectorAll('#menu li > div')].find(
                        (d) => d.textContent.trim() === label);
                      const ul = item.closest('ul'); return ul.id === 'menu' ? null
                        : ul.parentElement.querySelector(':scope > div').textContent.trim(); }""", label)
    if parent is not None:
        yield MouseMove(coordinate=p.point(wrapper, nth=_nth_with_text(p, wrapper, parent)))
        yield Wait(time=0.5)
    yield from p.click(wrapper, nth=_nth_with_text(p, wrapper, label))


def navigate_tree(p: Page, goal: str) -> Iterator[Action]:
    """Open the folders on the way to the item (a folder's name toggles it), then click the item."""
    name = quoted(goal)[0]
    path = p.js("""(name) => { const target = [...document.querySelectorAll('#tree span')].find(
                      (s) => s.textContent.trim() === name);
                    if (!target) return null;
                    const names = [];
                    for (let li = target.parentElement.parentElement.closest('li'); li;
                         li = li.parentElement.closest('li'))
                      names.unshift(li.querySelector(':scope > span').textContent.trim());
                    return names; }""", name)
    if path is None:
        raise OracleError(f"no file or folder {name!r} in the tree")
    for folder in path:
        yield from p.click("#tree span.folder", text=folder)
        yield Wait(time=0.5)  # the folder slides open
    yield from p.click("#tree span", text=name)


def social_media(p: Page, goal: str) -> Iterator[Action]:
    m = match(r'For the user (@\S+), click on the "(.+)" button', goal)
    user, label = m.groups()
    action = _social_action(p, label)
    index = p.js("(user) => [...document.querySelectorAll('#area .media')].findIndex("
                 "(m) => m.querySelector('.username').textContent === user)", user)
    if index < 0:
        raise OracleError(f"no post by {user!r}")
    yield from _social_click(p, index, action)


def _social_action(p: Page, label: str) -> str:
    action = p.js("(label) => Object.keys(ACTIONS).find((k) => ACTIONS[k] === label)", label)
    if action is None:
        raise OracleError(f"no action is labelled {label!r}")
    return str(action)


def _social_click(p: Page, index: int, action: str) -> Iterator[Action]:
    """Click post `index`'s `action`: a button under the post, or an item of its "more" menu."""
    if p.exists(f"#area .media .controls > .{action}"):
        # Every icon swaps its image on hover (CSS `content:`), so a click in the instant the mouse arrives can
        # land while the element has no box and miss.
        yield from p.hover_click(f"#area .media .controls > .{action}", nth=index)
        return
    yield from p.hover_click("#area .media .controls .more", nth=index)  # the icon swaps its image on hover
    yield from p.click(f"#area .media ul li.{action}")  # only the menu just opened shows


def social_media_all(p: Page, goal: str) -> Iterator[Action]:
    """Every post by the user (social-media-all), or the first N of them (social-media-some), then Submit."""
    m = match(r'Click the "(.+)" button on (all|\d+) posts? by (@\S+) and then click Submit', goal)
    label, count, user = m.groups()
    action = _social_action(p, label)
    indexes = p.js("(user) => [...document.querySelectorAll('#area .media')].map((m, i) => "
                   "m.querySelector('.username').textContent === user ? i : -1).filter((i) => i >= 0)", user)
    for index in indexes if count == "all" else indexes[: int(count)]:
        yield from _social_click(p, index, action)
    yield from p.click("#submitRow button")


def find_greatest(p: Page, goal: str) -> Iterator[Action]:
    values = p.js("() => [...document.querySelectorAll('#cardholder .card-value')].map((e) => +e.textContent)")
    yield from p.click("#cardholder .card", nth=values.index(max(values)))
    yield from p.click("#submit")


def identify_shape(p: Page, goal: str) -> Iterator[Action]:
    (shape,) = p.js(SHAPES_JS, "#area_svg > *")
    kind = shape["type"] if shape["type"] != "shape" else shape["text"]
    yield from p.click(f'#area-buttons button[data-type="{kind}"]')


def grid_coordinate(p: Page, goal: str) -> Iterator[Action]:
    point = match(r"\((-?\d+),(-?\d+)\)", goal).group(0)
    yield from p.click(f'#area circle[id="{point}"]')


def odd_or_even(p: Page, goal: str) -> Iterator[Action]:
    numbers = p.js("() => [...document.querySelectorAll('#numbers .display-number')].map((e) => +e.textContent)")
    for i, n in enumerate(numbers):
        yield from p.click(f"#numbers button.{'even' if n % 2 == 0 else 'odd'}", nth=i)
    yield from p.click("#submit")


def phone_book(p: Page, goal: str) -> Iterator[Action]:
    """Page through the contacts until the name shows, then click the asked-for property."""
    m = match(r"Find (.+) in the contact book and click on their (\w+)", goal)
    name, prop = m.groups()
    for _ in range(12):
        if p.exists("#contact h2.name", text=name):
            yield from p.click(f"#contact .{prop}")
            return
        yield from p.click("#pagination li.next a")
    raise OracleError(f"{name!r} is not in the contact book")


def order_food(p: Page, goal: str) -> Iterator[Action]:
    """One of each named item (names may hold "and": they are matched against the menu, whose data-item
    attributes may carry stray spaces), or N of the first item of a kind."""
    names = p.js("() => [...document.querySelectorAll('#area .food-item')].map((i) => i.dataset.item.trim())")
    by_type = re.match(r"Order (\d+) items that are (.+)$", goal)
    if by_type:
        kinds = p.js("() => [...document.querySelectorAll('#area .food-item')].map((i) => "
                     "[...i.querySelectorAll('.types img')].map((img) => img.title))")
        fits = [i for i, k in enumerate(kinds) if by_type.group(2) in k]
        if not fits:
            raise OracleError(f"no item is {by_type.group(2)!r}")
        picks = [fits[0]] * int(by_type.group(1))
    else:
        wanted = goal.split(":", 1)[1].strip()
        picks = [i for i, n in enumerate(names) if re.search(rf"(^|, ){re.escape(n)}(,|$)", wanted)]
    for i in picks:
        yield from p.click("#area .food-item .add", nth=i)
    yield from p.click("#submit-order button")


SCRIPTS = {
    "click-shape": click_shape,
    "click-color": click_color,
    "click-shades": click_shades,
    "click-test-transfer": click_test_transfer,
    "click-collapsible-2": click_collapsible_2,
    "click-collapsible-2-nodelay": click_collapsible_2,
    "click-tab-2": click_tab_2,
    "click-tab-2-easy": click_tab_2,
    "click-tab-2-medium": click_tab_2,
    "click-tab-2-hard": click_tab_2,
    "click-menu": click_menu,
    "click-menu-2": click_menu_2,
    "navigate-tree": navigate_tree,
    "social-media": social_media,
    "social-media-all": social_media_all,
    "social-media-some": social_media_all,
    "find-greatest": find_greatest,
    "identify-shape": identify_shape,
    "grid-coordinate": grid_coordinate,
    "odd-or-even": odd_or_even,
    "phone-book": phone_book,
    "order-food": order_food,
}
