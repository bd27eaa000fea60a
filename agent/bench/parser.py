"""`python -m agent bench-parser`: the parser's time on a fuzz corpus of model answers, worst case first.

The corpus is generated from a seed, so every run times the same answers: valid calls in the forms real
answers take, the same wrapped in prose and junk, cut short, mutated, nested deep, and adversarial patterns
repeated up to the size limit. Each answer carries what the parser must do with it, which is what
tests/actions/test_parsing_fuzz.py checks on the same corpus; this command only prints times.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from actions.base import Action
from actions.parsing import MAX_DEPTH, ParseError, parse_action
from actions.space import BROWSER, COMPUTER, MOBILE, ActionSpace

# What the parser must do with an answer: give `expected`; refuse it (ParseError); give `expected` or refuse;
# give any action of the space or refuse (never another exception).
Must = Literal["parse", "refuse", "same_or_refuse", "any"]
KINDS = ("valid", "noisy", "cut", "mutated", "nested", "fragments", "adversarial")
SPACES = (COMPUTER, BROWSER, MOBILE, MOBILE.with_answer())
# The slowest answers are timed again this many times and keep their fastest time: a worst case is the
# input's, not a pause of the machine's.
RETIMES = 5
SLOWEST = 50


@dataclass(frozen=True)
class Answer:
    kind: str
    space: ActionSpace
    text: str
    must: Must
    expected: Action | None = None


# Prose a model thinks aloud in: no `{` (no JSON in it) and no `<` (no tags).
_PROSE = "abcdefghijklmnopqrstuvwxyz ABCXYZ 0123456789 .,;:!?()'\"-\n\téü你好😀"
_TEXT = _PROSE + '{}[]<>/\\"`'
FRAGMENTS = (
    "<tool_call>", "</tool_call>", "```json", "```", "\n", " ", "{", "}", "[", "]", '"', ",", ":", '"name"',
    '"arguments"', '"action"', '"mobile_use"', '"computer_use"', '"click"', '"coordinate"', '"text"', '"type"',
    '"terminate"', '"status"', '"success"', "12", "-3", "1e999", "NaN", "-Infinity", "3.7", '"12"', "null", "true",
    "tru", "\\", "\\u00e9", "\\x", "你好", "😀", "Thought: tap it.", "{{{{", "]]]]", "[1,", '{"a":',
)
# Patterns that have made parsers slow: long runs of openers, quotes and escapes, many starts of objects,
# unfinished calls ended by the model, many whole objects and calls.
ADVERSARIAL = (
    "{", "[", '"', "\\", '{"', '{"x', "{1", "[{", '{"a":', '{"a": [', "{}", '{"a":1}', '{"a":1,', '{"\\x"}',
    "<tool_call>", "<tool_call>{", "{</tool_call>", '{"a": [1\n</tool_call>', '{"a":{"b":1\n</tool_call>',
    '{"name": "x", "arguments": {"action": "click", "coordinate": [1, 2]}, ', "1,", "[],", '"a",', '"\\"\\\\',
    '<tool_call>{"name": "mobile_use", "arguments": {"action": "wait"}}</tool_call>', '{"arguments": {',
)


def corpus(count: int, max_bytes: int = 10_240, seed: int = 0) -> list[Answer]:
    """`count` answers of at most `max_bytes` UTF-8 bytes each, the same for the same arguments."""
    rng = random.Random(seed)
    makers: list[Callable[[random.Random, int], Answer]] = [
        _valid, _noisy, _cut, _mutated, _nested, _fragments, _adversarial]
    return [makers[i % len(makers)](rng, max_bytes) for i in range(count)]


def _arguments(rng: random.Random, space: ActionSpace) -> dict[str, Any]:
    def point() -> list[int]:
        return [rng.randint(0, 3000), rng.randint(0, 3000)]

    def text() -> str:
        return "".join(rng.choices(_TEXT, k=rng.randint(1, 40))) + rng.choice(["", "</tool_call>", "}"])

    mobile = space.tool_name == "mobile_use"
    tag = rng.choice(space.tags)
    made: dict[str, Callable[[], dict[str, Any]]] = {
        "key": lambda: {"text": "volume_up"} if mobile else {"keys": rng.sample(["ctrl", "shift", "alt", "t"], 2)},
        "type": lambda: {"text": text()},
        "answer": lambda: {"text": text()},
        "open": lambda: {"text": rng.choice(["Settings", "Chrome", "设置"])},
        "click": lambda: {"coordinate": point()},
        "long_press": lambda: {"coordinate": point(), "time": rng.randint(1, 5)},
        "swipe": lambda: {"coordinate": point(), "coordinate2": point()},
        "system_button": lambda: {"button": rng.choice(["Back", "Home", "Menu", "Enter"])},
        "left_click_drag": lambda: {"start_coordinate": point(), "coordinate": point()},
        "scroll": lambda: {"pixels": rng.randint(-900, 900), "coordinate": point()},
        "wait": lambda: {"time": rng.choice([1, 2.5])},
        "terminate": lambda: {"status": rng.choice(["success", "failure"])},
        "navigate": lambda: {"url": "https://example.com/a?b={c}"},
        "back": dict,
        "forward": dict,
    }
    return {"action": tag, **made.get(tag, lambda: {"coordinate": point()})()}


def valid_answer(rng: random.Random, tagged: bool | None = None) -> tuple[ActionSpace, str, int, Action]:
    """A valid answer in one of the forms real answers take (only tagged ones, or only untagged ones, if asked),
    where its arguments are complete (a cut before there is always refused), and its action."""
    space = rng.choice(SPACES)
    arguments = _arguments(rng, space)
    separators = (",", ":") if rng.random() < 0.3 else None
    args = json.dumps(arguments, ensure_ascii=rng.random() < 0.5, separators=separators)
    head = f'{{"name": "{space.tool_name}", "arguments": '
    # (text before the arguments, the arguments, text after them); arguments given as a JSON string are
    # complete only with the whole call, so they are part of the text before.
    tagged_forms = [("<tool_call>\n" + head, args, "}\n</tool_call>"),
                    ("I will do it now.\n<tool_call>\n" + head, args, "}\n</tool_call>"),
                    ("<tool_call>\n" + head, args, "}")]
    untagged_forms = [(head, args, "}"), ("```json\n" + head, args, "}\n```"), ("", args, ""),
                      (head + json.dumps(args) + "}", "", "")]
    forms = {True: tagged_forms, False: untagged_forms, None: tagged_forms + untagged_forms}[tagged]
    before, inner, after = rng.choice(forms)
    text = before + inner + after
    return space, text, len(before + inner) if inner else len(text), space.validate(arguments)


def _fit(text: str, max_bytes: int) -> str:
    return text.encode()[:max_bytes].decode(errors="ignore")


def _junk(rng: random.Random, room: int, tags: bool = True) -> str:
    """Fragments and single characters, about `room` bytes of them."""
    pieces = FRAGMENTS if tags else tuple(f for f in FRAGMENTS if "tool_call" not in f)
    pool = pieces + tuple(_TEXT) * 2
    return _fit("".join(rng.choices(pool, k=room // 2 + 1)), room)  # pieces average over two bytes


def _prose(rng: random.Random, most: int) -> str:
    return "".join(rng.choices(_PROSE, k=rng.randint(0, most)))


def _valid(rng: random.Random, max_bytes: int) -> Answer:
    space, text, _, action = valid_answer(rng)
    return Answer("valid", space, text, "parse", action)


def _noisy(rng: random.Random, max_bytes: int) -> Answer:
    """Prose before, anything after: the first call is the same call. A call that is not tagged comes first
    only while no <tool_call> follows it."""
    space, text, _, action = valid_answer(rng)
    before = _prose(rng, 200)
    room = rng.choice([20, 200, max_bytes]) - len((before + text).encode())
    after = _junk(rng, max(room, 0), tags="<tool_call>" in text) if rng.random() < 0.8 else ""
    return Answer("noisy", space, _fit(before + text + after, max_bytes), "parse", action)


def _cut(rng: random.Random, max_bytes: int) -> Answer:
    space, text, complete, action = valid_answer(rng)
    cut = rng.randrange(1, len(text))
    return Answer("cut", space, text[:cut], "refuse" if cut < complete else "same_or_refuse", action)


def _mutated(rng: random.Random, max_bytes: int) -> Answer:
    space, text, _, _ = valid_answer(rng)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(text) + 1)
        edit = rng.choice(["insert", "delete", "replace"])
        piece = rng.choice(FRAGMENTS) if edit != "delete" else ""
        text = text[:at] + piece + text[at + (rng.randint(1, 5) if edit != "insert" else 0):]
    return Answer("mutated", space, _fit(text, max_bytes), "any")


def _nested(rng: random.Random, max_bytes: int) -> Answer:
    """Deep JSON inside a call (refused: no action has such an argument), after a whole call (the call stands),
    or before a tagged one (it stands while the nesting stays within the parser's depth)."""
    depth = rng.choice([3, MAX_DEPTH - 1, MAX_DEPTH + 1, 200, 5000])
    openers = "".join(rng.choices("[{", k=depth))
    deep = "".join(o if o == "[" else '{"k": ' for o in openers)
    closed = rng.random() < 0.5
    deep_closed = deep + "1" + "".join("]" if o == "[" else "}" for o in reversed(openers))
    junk = deep_closed if closed else deep
    where = rng.choice(["inside", "after", "before"])
    space, text, _, action = valid_answer(rng, tagged=where == "before")
    if where == "inside":
        arguments = json.dumps(action.arguments())[:-1] + f', "extra": {junk}}}'
        return Answer("nested", space, _fit(f'<tool_call>\n{{"name": "{space.tool_name}", "arguments": {arguments}}}'
                                            "\n</tool_call>", max_bytes), "refuse")
    if where == "after":
        return Answer("nested", space, _fit(text + "\n" + junk, max_bytes), "parse", action)
    answer = '{"thought": ' + junk + ("}" if closed else "") + "\n" + text
    # Within the depth, the object before is text; deeper, an unfinished one ends the reading, while a whole
    # one is read by the decoder as far as its own recursion limit goes.
    must: Must = "parse" if depth + 1 <= MAX_DEPTH else "any" if closed else "refuse"
    if len(answer.encode()) > max_bytes:
        return Answer("nested", space, _fit(answer, max_bytes), "any")
    return Answer("nested", space, answer, must, action)


def _fragments(rng: random.Random, max_bytes: int) -> Answer:
    space = rng.choice(SPACES)
    return Answer("fragments", space, _junk(rng, rng.choice([40, 400, max_bytes])), "any")


def _adversarial(rng: random.Random, max_bytes: int) -> Answer:
    pattern = rng.choice(ADVERSARIAL)
    space, text, _, action = valid_answer(rng, tagged=True)
    where = rng.choice(["alone", "after a call", "before a call"])
    room = max_bytes - (len(text.encode()) if where != "alone" else 0)
    junk = _fit(pattern * (room // len(pattern.encode()) + 1), room)
    if where == "after a call":
        return Answer("adversarial", space, text + junk, "parse", action)
    return Answer("adversarial", space, junk + text if where == "before a call" else junk, "any")


@dataclass(frozen=True)
class Timing:
    answer: Answer
    ms: float


def time_corpus(answers: list[Answer]) -> list[Timing]:
    """Each answer's parse time, slowest first; the slowest are timed again (RETIMES) and keep their fastest."""
    timings = sorted((Timing(a, _time(a)) for a in answers), key=lambda t: t.ms, reverse=True)
    slowest = [Timing(t.answer, min(_time(t.answer) for _ in range(RETIMES))) for t in timings[:SLOWEST]]
    return sorted(slowest + timings[SLOWEST:], key=lambda t: t.ms, reverse=True)


def _time(answer: Answer) -> float:
    """Milliseconds of this thread's CPU time: on a shared machine, the time other processes take the core
    from it is not the parser's."""
    gc_was_on = gc.isenabled()
    gc.disable()  # a collection is the process's pause, not the parser's work
    try:
        start = time.thread_time()
        try:
            parse_action(answer.text, answer.space)
        except ParseError:
            pass
        return (time.thread_time() - start) * 1000
    finally:
        if gc_was_on:
            gc.enable()


def format_report(timings: list[Timing]) -> str:
    worst = timings[0]
    lines = [f"{len(timings)} answers, in ms of one thread's CPU time (the {SLOWEST} slowest: fastest of "
             f"{RETIMES} more runs)",
             f"worst {worst.ms:.2f} ms: {worst.answer.kind}, {len(worst.answer.text.encode())} bytes, "
             f"{_preview(worst.answer.text)}",
             f"{'class':<12} {'answers':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"]
    for kind, rows in [("all", timings), *((k, [t for t in timings if t.answer.kind == k]) for k in KINDS)]:
        if rows:
            p50, p99 = _percentiles([t.ms for t in rows])
            lines.append(f"{kind:<12} {len(rows):>7} {p50:>8.3f} {p99:>8.3f} {max(t.ms for t in rows):>8.3f}")
    return "\n".join(lines)


def _percentiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]


def _preview(text: str) -> str:
    return json.dumps(text[:40] + ("…" if len(text) > 40 else ""), ensure_ascii=False)

