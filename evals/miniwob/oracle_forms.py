"""Oracle scripts for MiniWoB++'s typing and form tasks: read what to enter from the page, enter it, submit."""

from __future__ import annotations

import re
from collections.abc import Iterator

from actions.base import Action, Type
from actions.computer import Key, LeftClick, Scroll
from evals.miniwob.oracle_clicks import SHAPES_JS, SHAPE_KINDS, shape_matches
from evals.miniwob.page import OracleError, Page, match, quoted

_ORDINAL = r"(\d+)(?:st|nd|rd|th)"


def click_checkboxes(p: Page, goal: str) -> Iterator[Action]:
    """click-checkboxes and its -large and -transfer kin: the labels named in the goal, then Submit."""
    wanted = match(r"Select (.*) and click Submit\.", goal).group(1)
    names = [] if wanted == "nothing" else [w.strip() for w in wanted.split(",")]
    labels = p.js("() => [...document.querySelectorAll('#area label')].map((l) => l.textContent.trim())")
    for name in names:
        if name not in labels:
            raise OracleError(f"no checkbox is labelled {name!r}: {labels}")
        # The box, not its label's text: Chromium's touch adjustment moves a tap on the text of a label just
        # above Submit onto Submit (miniwob-mobile), while a tap on the box itself stays there.
        yield from p.click("#area label input", nth=labels.index(name))
    yield from p.click("#subbtn")


def click_checkboxes_soft(p: Page, goal: str) -> Iterator[Action]:
    """Every label that shares a synonym group (the page's SYNONYMS) with a word of the goal."""
    words = [w.strip() for w in match(r"Select words similar to (.*) and click Submit\.", goal).group(1).split(",")]
    labels = p.js("() => [...document.querySelectorAll('#boxes label')].map((l) => l.textContent.trim())")
    groups = p.js("() => SYNONYMS")
    for i, label in enumerate(labels):
        if any(label in g and any(w in g for w in words) for g in groups):
            yield from p.click("#boxes label", nth=i)
    yield from p.click("#subbtn")


def enter_text_dynamic(p: Page, goal: str) -> Iterator[Action]:
    yield from p.fill("#tt", quoted(goal)[0])
    yield from p.click("#subbtn")


def enter_time(p: Page, goal: str) -> Iterator[Action]:
    hour, minute, half = match(r"Enter (\d+):(\d+) (AM|PM)", goal).groups()
    yield from p.click("#tt", fx=0.1)  # the hour segment of Chromium's time field, which fills left to right
    yield Type(text=f"{int(hour):02d}{minute}{half[0]}")
    yield from p.click("#subbtn")


def copy_paste(p: Page, goal: str) -> Iterator[Action]:
    """Copy with the keyboard, as a user would: select the text area's text, copy, paste into the field. A phone
    has no such keys (and headless Chromium no long-press selection menu): there the text is read and typed."""
    n = re.search(_ORDINAL + " text area", goal)
    source = f"#text-{n.group(1)}" if n else "#to-copy"
    if p.touch:
        yield from p.fill("#answer-input", p.js("(sel) => document.querySelector(sel).value", source))
    else:
        yield from p.click(source)
        yield Key(keys=["ctrl", "a"])
        yield Key(keys=["ctrl", "c"])
        yield from p.click("#answer-input")
        yield Key(keys=["ctrl", "v"])
    yield from p.click("#subbtn")


def find_word(p: Page, goal: str) -> Iterator[Action]:
    n = int(match(_ORDINAL + " word", goal).group(1))
    words = p.js("() => document.querySelector('#area p').textContent.trim().split(/\\s+/)")
    yield from p.fill("#answer-input", re.sub(r"[^a-zA-Z]", "", words[n - 1]))
    yield from p.click("#subbtn")


def form_sequence_2(p: Page, goal: str) -> Iterator[Action]:
    m = match(r"Check the " + _ORDINAL + r' radio button and enter the number "(-?\d+)" into the ' + _ORDINAL
              + " textbox", goal)
    radio, number, box = m.groups()
    yield from p.click('#area input[type="radio"]', nth=int(radio) - 1)
    yield from p.fill('#area input[type="text"]', number, nth=int(box) - 1)
    yield from p.click("#subbtn")


def generate_number(p: Page, goal: str) -> Iterator[Action]:
    def ok(n: int) -> bool:
        if m := re.search(r"less than (\d+)", goal):
            return n < int(m.group(1))
        if m := re.search(r"greater than (\d+)", goal):
            return n > int(m.group(1))
        return (n % 2 == 1) == ("odd" in goal)

    for i in range(8):
        # A number can come again, which leaves the screen as it was: the loop stops an agent that repeats
        # an action that changes nothing, so each click lands a little apart.
        yield from p.click("#generate", fx=0.35 + 0.1 * (i % 3))
        shown = p.js("() => document.getElementById('display-number').textContent")
        if re.fullmatch(r"-?\d+", shown) and ok(int(shown)):
            yield from p.click("#submit")
            return
    raise OracleError(f"eight numbers in a row missed {goal!r}")


def guess_number(p: Page, goal: str) -> Iterator[Action]:
    """Bisect 0..9 on the page's higher/lower feedback."""
    low, high = 0, 9
    for _ in range(5):
        guess = (low + high) // 2
        # The field keeps the last guess, one digit: a click just past it and a Backspace clear it.
        yield from p.replace("#tt", str(guess), fx=0.4)
        yield from p.click("#subbtn")
        if p.exists("#higher"):
            low = guess + 1
        elif p.exists("#lower"):
            high = guess - 1
        else:
            return  # correct: the page ended the episode
    raise OracleError("the feedback never said correct")


def login_user_popup(p: Page, goal: str) -> Iterator[Action]:
    """Log in; a popup that appears on a field is dismissed with Cancel (its OK leaves the page)."""
    user, password = quoted(goal)[:2]
    for sel, text in (("#username", user), ("#password", password)):
        yield from p.click(sel)
        if p.exists("#popup"):
            yield from p.click("#popup-cancel")
            yield from p.click(sel)
        yield Type(text=text)
    if p.exists("#popup"):
        yield from p.click("#popup-cancel")
    yield from p.click("#subbtn")


# Each text field of multi-layouts/-orderings and the words around it: its placeholder or its row's label.
_FIELDS_JS = """() => [...document.querySelectorAll('#area input[type=text]')].map((input) => {
  const row = input.closest('p, tr, .field, .ui-entry, li') || input.parentElement;
  return (input.placeholder + ' ' + row.textContent).toLowerCase();
})"""


def multi_layouts(p: Page, goal: str) -> Iterator[Action]:
    genre, director, year = match(r"Search for (.+) movies directed by (.+) from year (\d+)", goal).groups()
    for i, label in enumerate(p.js(_FIELDS_JS)):
        value = genre if "genre" in label else director if "director" in label else year
        yield from p.fill("#area input[type=text]", value, nth=i)
    yield from p.click("#area button, #area .final, #area .ui-submit")


def read_table(p: Page, goal: str) -> Iterator[Action]:
    table = dict(p.js("() => [...document.querySelectorAll('#tab tr')].map((r) => "
                      "[...r.querySelectorAll('td')].map((d) => d.textContent.trim()))"))
    if p.exists("#tt1"):  # read-table-2: one field per label
        for i, key in enumerate(p.js("() => [...document.querySelectorAll('#form label')].map((l) => l.dataset.key)")):
            yield from p.fill(f"#tt{i + 1}", table[key])
    else:
        yield from p.fill("#tt", table[match(r"Enter the value of (.+) into the text field", goal).group(1)])
    yield from p.click("#subbtn")


def scroll_text(p: Page, goal: str) -> Iterator[Action]:
    """scroll-text: type the text area's last word. scroll-text-2: scroll it to the top or bottom, then submit."""
    if "last word" in goal:
        words = p.js("() => document.getElementById('text-area').value.trim().split(/\\s+/)")
        yield from p.fill("#answer-input", re.sub(r"[^a-zA-Z]", "", words[-1]))
    elif "to the top" in goal:
        yield from _scroll_to_end(p, "#text-area", up=True)
    else:
        yield from _scroll_to_end(p, "#text-area")
    yield from p.click("#subbtn")


def _scroll_to_end(p: Page, sel: str, up: bool = False) -> Iterator[Action]:
    """Wheel over the element until its text is scrolled to the end (or the start)."""
    for _ in range(6):
        left = p.js("([sel, up]) => { const e = document.querySelector(sel); "
                    "return up ? e.scrollTop : e.scrollHeight - e.clientHeight - e.scrollTop; }", [sel, up])
        if left <= 1:
            return
        yield Scroll(coordinate=p.point(sel), pixels=(int(left) + 20) * (1 if up else -1))
    raise OracleError(f"{sel} would not scroll to its end")


def sign_agreement(p: Page, goal: str) -> Iterator[Action]:
    """Scroll the agreement to its end (that enables the fields), then cancel, or sign and press the button."""
    yield from _scroll_to_end(p, "#text-area")
    names = quoted(goal)
    if not names:
        yield from p.click("#cancel")
        return
    yield from p.fill("#name", names[0])
    yield from p.click("#agree" if "Agree" in goal else "#cancel")


def search_engine(p: Page, goal: str) -> Iterator[Action]:
    """Search, open the results page holding the Nth result (three a page), click it."""
    n = int(match(_ORDINAL + " search result", goal).group(1))
    yield from p.fill("#search-text", quoted(goal)[0])
    yield from p.click("#search")
    page = (n - 1) // 3 + 1
    if page > 1:
        yield from p.click("#pagination a", text=str(page))
    yield from p.click(f'#page-content a[data-result="{n - 1}"]')


def simple_algebra(p: Page, goal: str) -> Iterator[Action]:
    problem = p.js("() => document.getElementById('math-problem').textContent")
    m = re.match(r"\s*(x|-?\d+)\s*([+-])\s*(x|-?\d+)\s*=\s*(-?\d+)", problem)
    if m is None:
        raise OracleError(f"unexpected problem {problem!r}")
    left, op, right, total = m.groups()
    if left == "x":
        x = int(total) - int(right) if op == "+" else int(total) + int(right)
    else:
        x = int(total) - int(left) if op == "+" else int(left) - int(total)
    yield from p.fill("#math-answer", str(x))
    yield from p.click("#subbtn")


def text_transform(p: Page, goal: str) -> Iterator[Action]:
    yield from p.fill("#tt", p.js("() => document.getElementById('captcha').textContent.trim()"))
    yield from p.click("#subbtn")


def unicode_test(p: Page, goal: str) -> Iterator[Action]:
    yield from p.click("#area button", text=quoted(goal)[0])


def visual_addition(p: Page, goal: str) -> Iterator[Action]:
    total = p.js("() => document.querySelectorAll('#math-problem .addition-block').length")
    yield from p.fill("#math-answer", str(total))
    yield from p.click("#subbtn")


def count_shape(p: Page, goal: str) -> Iterator[Action]:
    m = match(rf"How many (?:(large|small) )?(?:(\w+) )?({SHAPE_KINDS}|\S)s? are there", goal)
    size, color, what = m.groups()
    count = sum(shape_matches(s, size, color, what) for s in p.js(SHAPES_JS, "#area_svg > *"))
    yield from p.click("#count-buttons button", text=str(count))


def use_spinner(p: Page, goal: str) -> Iterator[Action]:
    """The page ignores typing into the spinner: click its arrows. The loop's screen-change check, on a
    thumbnail of the whole window, misses a digit that changes in the small field, and would stop an agent
    that repeats an action that "changes nothing": each click lands a pixel or two apart."""
    target = int(match(r"Select (-?\d+) with the spinner", goal).group(1))
    arrow = ".ui-spinner-up" if target > 0 else ".ui-spinner-down"
    x, y = p.point(f"#area {arrow}")
    for i in range(abs(target)):
        yield LeftClick(coordinate=(x - 2 + i % 3 * 2, y))
    yield from p.click("#subbtn")


def email_inbox_nl(p: Page, goal: str) -> Iterator[Action]:
    """The natural-language email tasks: the page's own fields say what to do (its utterance varies)."""
    fields = p.js("() => core.currentFields")
    index = p.js("""(sender) => [...document.querySelectorAll('#main .email-thread')].findIndex(
                      (t) => t.querySelector('.email-sender').textContent.trim() === sender)""", fields["by"])
    if index < 0:
        raise OracleError(f"no email from {fields['by']!r}")
    task = fields.get("task", "forward")
    if task == "delete":
        yield from p.click("#main .email-thread .email-actions span.trash", nth=index)
    elif task == "star":
        yield from p.click("#main .email-thread .email-actions span.star", nth=index)
    elif task == "reply":
        yield from p.click("#main .email-thread .email-subject", nth=index)
        yield from p.click("#email .email-reply")
        yield from p.fill("#reply-text", fields["message"])
        yield from p.click("#send-reply")
    elif task == "forward":
        yield from p.click("#main .email-thread .email-subject", nth=index)
        yield from p.click("#email .email-forward")
        yield from p.fill("#forward .forward-sender", fields["to"])
        yield from p.click("#send-forward")
    else:
        raise OracleError(f"unknown email task {task!r} in {fields}")


def terminal(p: Page, goal: str) -> Iterator[Action]:
    """rm the (first) listed file with the asked-for extension, or with none."""
    ext = re.search(r"with the extension \.(\S+)", goal)
    files = p.js("() => currentFiles")
    fits = [f for f in files if (f.endswith("." + ext.group(1)) if ext else "." not in f)]
    if not fits:
        raise OracleError(f"no file fits {goal!r}: {files}")
    yield from p.click("#terminal")
    yield Type(text=f"rm {fits[0]}")
    yield Key(keys=["enter"])


def choose_list(p: Page, goal: str) -> Iterator[Action]:
    """A native <select>: open it and click the option where the open list shows it, as a person would. The
    list is drawn by Chromium, not the page, so its rows are read off the screen: the list's height over its
    option count (3 to 9, all shown)."""
    wanted = match(r"Select (.+) from the list and click Submit\.", goal).group(1)
    options = p.js("() => [...document.querySelectorAll('#options option')].map((o) => o.textContent)")
    if wanted not in options:
        raise OracleError(f"{wanted!r} is not among the options {options}")
    control = p.js("() => { const r = document.getElementById('options').getBoundingClientRect(); "
                   "return {x: r.left + r.width / 2, bottom: r.bottom}; }")
    closed = p.observe()
    yield from p.click("#options")
    box = p.changed_box(closed, p.observe())
    if box is None or box[3] - control["bottom"] < 10 * len(options):
        raise OracleError("the open list of the <select> is not on the screen (headless Chromium does not draw "
                          "it: run on the virtual display)")
    row = (box[3] - control["bottom"]) / len(options)
    y = control["bottom"] + (options.index(wanted) + 0.5) * row
    yield LeftClick(coordinate=(int(control["x"]), int(y)))
    yield from p.click("#area button", text="Submit")


def form_sequence_3(p: Page, goal: str) -> Iterator[Action]:
    """The dropdown is selectric's (a list of <li>, not a native <select>): open it, pick, press the button."""
    choice, button = match(r'Choose (.+) from the dropdown, then click the button labeled "(.+)"', goal).groups()
    yield from p.click("#area .selectric")
    yield from p.click("#area .selectric-items li", text=choice)
    yield from p.click("#buttons button", text=button)


SCRIPTS = {
    "choose-list": choose_list,
    "form-sequence-3": form_sequence_3,
    "terminal": terminal,
    "click-checkboxes": click_checkboxes,
    "click-checkboxes-large": click_checkboxes,
    "click-checkboxes-transfer": click_checkboxes,
    "click-checkboxes-soft": click_checkboxes_soft,
    "enter-text-dynamic": enter_text_dynamic,
    "enter-time": enter_time,
    "copy-paste": copy_paste,
    "copy-paste-2": copy_paste,
    "find-word": find_word,
    "form-sequence-2": form_sequence_2,
    "generate-number": generate_number,
    "guess-number": guess_number,
    "login-user-popup": login_user_popup,
    "multi-layouts": multi_layouts,
    "multi-orderings": multi_layouts,
    "read-table": read_table,
    "read-table-2": read_table,
    "scroll-text": scroll_text,
    "scroll-text-2": scroll_text,
    "sign-agreement": sign_agreement,
    "search-engine": search_engine,
    "simple-algebra": simple_algebra,
    "text-transform": text_transform,
    "unicode-test": unicode_test,
    "visual-addition": visual_addition,
    "count-shape": count_shape,
    "use-spinner": use_spinner,
    "email-inbox-nl-turk": email_inbox_nl,
    "email-inbox-forward-nl": email_inbox_nl,
    "email-inbox-forward-nl-turk": email_inbox_nl,
}
