"""Model text to a typed action, accepting what Qwen2.5-VL really writes, or a ParseError to show the model.

Accepted: `<tool_call>{...}</tool_call>` (also unclosed when the JSON itself is complete), fenced ```json blocks,
bare JSON, prose before or after, `arguments` given as a JSON string, numbers given as strings, a bare arguments
object (`{"action": ...}`), extra data after the JSON. Model text is only ever read as JSON; nothing in it is
evaluated.

A cut-off answer is never an action. Text that ends inside an unfinished JSON object is an error, whatever the
object would have become. The one repair is for braces the model dropped where it ended the call itself (the
JSON is followed by `</tool_call>` or a closing fence, right after a whole value): those braces are added, and
nothing else; an open string, array or number is never closed. A complete `arguments` object inside an
unfinished call is still the whole of the arguments, and is used.

Work per answer is bounded, so a 10 KB answer parses in a few milliseconds whatever it holds (`python -m agent
bench-parser` measures it): whole objects are read by the C decoder, and only unfinished ones are followed token
by token in Python, over disjoint spans. Reading stops after MAX_SCAN_CHARS characters, MAX_JSON_STARTS objects
or MAX_SCAN_TOKENS tokens followed in Python, and at unfinished JSON nested more than MAX_DEPTH levels deep (a
tool call nests three); what was not read is never a call, and a call found before stands, with a note.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from actions.base import Action
from actions.space import TOOL_CALL_CLOSE, TOOL_CALL_OPEN, ActionSpace
from actions.text import clip

# Bounds on work per answer, so a pathological output cannot stall the loop.
MAX_SCAN_CHARS = 20_000
MAX_JSON_STARTS = 100
MAX_SCAN_TOKENS = 1_000
MAX_DEPTH = 32

_OPEN_TAG = TOOL_CALL_OPEN.strip()
_CLOSE_TAG = TOOL_CALL_CLOSE.strip()
# Where a model ends a call itself: braces missing just before these were dropped, not cut off.
_CALL_ENDS = (_CLOSE_TAG, "```")
# strict=False: raw control characters inside strings (a tab, a newline in typed text) are accepted, as
# models and grammars do emit them.
_DECODER = json.JSONDecoder(strict=False)

_RESCUED = ("the tool call around the arguments was unfinished (cut off or malformed); its complete arguments "
            "object was used")
# JSON's tokens, as Python's decoder reads them (it also reads NaN and Infinity), one per match after optional
# whitespace; the group that matched tells the token's kind. Possessive: a failed match never backtracks.
_TOKEN = re.compile(
    r'[ \t\n\r]*+(?:("[^"\\]*+(?:\\.[^"\\]*+)*+")|([{\[])|([}\]])|(:)|(,)'
    r"|(-?(?:0|[1-9]\d*+)(?:\.\d++)?+(?:[eE][-+]?\d++)?+|true|false|null|NaN|-?Infinity))",
    re.DOTALL,
)
_STRING, _OPEN, _CLOSE, _COLON, _COMMA, _SCALAR = range(1, 7)
_WHITESPACE = re.compile(r"[ \t\n\r]*+")
# A number the text may have cut short ("-", "12.", "1e+"); loose, as it only tells a cut from a mistake.
_NUMBER_START = re.compile(r"-?\d*(?:\.\d*)?(?:[eE][-+]?\d*)?")
_NUMBER_GOES_ON = frozenset("0123456789.eE")
_LITERALS = ("true", "false", "null", "NaN", "Infinity", "-Infinity")
_CLOSER = {"{": "}", "[": "]"}
# What the scan expects next; a closing bracket is allowed only in the *_OR_CLOSE states.
_VALUE, _VALUE_OR_CLOSE, _KEY, _KEY_OR_CLOSE, _COLON_NEXT, _NEXT = range(6)


class ParseError(ValueError):
    """The answer holds no usable action. The message is written to be shown to the model."""


@dataclass(frozen=True)
class ParsedAction:
    action: Action
    # The tool call as the model wrote it, under the space's tool name: {"name": ..., "arguments": {...}}.
    call: dict[str, Any]
    # Things worth recording: repairs made, extra tool calls ignored.
    notes: list[str] = field(default_factory=list)
    # The call's JSON is followed by </tool_call>: the model itself ended it, so it was not cut off.
    closed: bool = False


@dataclass(frozen=True)
class _Found:
    """A JSON object read from the answer, and where it lies."""

    obj: dict[str, Any]
    start: int
    end: int
    closed: bool
    # Set when the object was not read as written (braces added, or taken from inside an unfinished call).
    note: str | None = None


@dataclass(frozen=True)
class _Unfinished:
    """Where a JSON object that does not decode stops being JSON, and why."""

    end: int  # the first character that is not part of it; the text's length when the text ran out
    cut: bool = False  # the text ended inside it
    ended_by: str | None = None  # the call's end it stops at, where the model ended the call itself (_CALL_ENDS)
    # With `ended_by`, right after a whole value and inside objects only: the braces the model dropped.
    missing_braces: int | None = None
    arguments_at: int | None = None  # where its `arguments` object starts, if it has one
    tokens: int = 0  # how many tokens were followed
    unread: str | None = None  # why it was not followed to its end (too deep, too long)


@dataclass
class _Reading:
    """Everything read as JSON in an answer."""

    found: list[_Found] = field(default_factory=list)
    # Of the found objects and of the unusable ones, in order and apart.
    spans: list[tuple[int, int]] = field(default_factory=list)
    cut_at: int | None = None  # where an object starts that the text ends inside
    unfinished_at: str | None = None  # the call end that an unfinished object runs into
    unread: str | None = None  # why reading stopped before the text's end, if it did


def parse_action(text: str, space: ActionSpace) -> ParsedAction:
    """Parse the first tool call in `text` into an action of `space`."""
    if not isinstance(text, str) or not text.strip():
        raise ParseError(f"the answer was empty; reply with one <tool_call> calling {space.tool_name}")
    reading = _read_json(text[:MAX_SCAN_CHARS])
    if len(text) > MAX_SCAN_CHARS and reading.unread is None:
        reading.unread = f"is longer than {MAX_SCAN_CHARS} characters"
    text = text[:MAX_SCAN_CHARS]
    # Prose before the first <tool_call> is the model thinking aloud: objects in it are not calls.
    tag = _first_outside(text, _OPEN_TAG, reading.spans)
    calls = [f for f in reading.found if (tag is None or f.start > tag) and _is_call(f.obj)]
    if not calls:
        raise ParseError(_nothing_usable(reading, space))
    first = calls[0]
    notes = [first.note] if first.note else []
    if tag is not None and not first.closed:
        notes.append("the <tool_call> block was not closed")
    if len(calls) > 1:
        notes.append(f"{len(calls)} tool calls in the answer; the first was used")
    if reading.cut_at is not None and reading.cut_at >= first.end:
        notes.append("the answer ends inside a further, unfinished JSON object, which was ignored")
    if reading.unread is not None:
        notes.append(f"the answer {reading.unread}; the rest of it was not read")
    parsed = _to_action(first.obj, space, notes, bare_note=first.note is None)
    return ParsedAction(parsed.action, parsed.call, parsed.notes, closed=first.closed)


def _example(space: ActionSpace) -> str:
    return TOOL_CALL_OPEN + f'{{"name": "{space.tool_name}", "arguments": {{"action": ...}}}}' + TOOL_CALL_CLOSE


def _nothing_usable(reading: _Reading, space: ActionSpace) -> str:
    if reading.cut_at is not None:
        return (
            "the answer ends in the middle of its tool call (it was cut off or left unfinished), so it was not "
            f"carried out; answer again with one short, complete tool call: {_example(space)}"
        )
    if reading.unread is not None:
        return (
            f"no tool call was found where the answer was read: it {reading.unread}, more than an answer needs, "
            f"and the rest was not read; answer with one short tool call and little else: {_example(space)}"
        )
    if reading.unfinished_at is not None:
        return (
            f"the tool call's JSON is unfinished where {reading.unfinished_at} ends it (an array is left open, "
            f"or a key or value is missing), so it was not carried out; answer with every bracket closed: "
            f"{_example(space)}"
        )
    return f"no tool call was found in the answer; reply with {_example(space)}"


def _is_call(obj: dict[str, Any]) -> bool:
    return "name" in obj or "action" in obj or "arguments" in obj


def _first_outside(text: str, needle: str, spans: list[tuple[int, int]]) -> int | None:
    """Where `needle` first starts outside every span (a tag written inside a JSON string is text, not a tag).
    The spans are in order and apart, so one walk through the gaps between them finds it."""
    gap = 0
    for start, end in spans:
        # An occurrence starting before `start` may run into the span; it still starts outside it.
        if (at := text.find(needle, gap, start + len(needle) - 1)) != -1:
            return at
        gap = max(gap, end)
    at = text.find(needle, gap)
    return at if at != -1 else None


def _read_json(text: str) -> _Reading:
    """Every top-level JSON object in `text`, in order; text around and between them is ignored."""
    reading = _Reading()
    pos, starts, tokens_left = 0, 0, MAX_SCAN_TOKENS
    while (start := text.find("{", pos)) != -1:
        if starts == MAX_JSON_STARTS:
            reading.unread = f"holds more than {MAX_JSON_STARTS} JSON objects"
            break
        starts += 1
        whole = _decode(text, start)
        if whole is not None:
            reading.found.append(whole)
            reading.spans.append((start, whole.end))
            pos = whole.end
            continue
        unfinished = _scan(text, start, tokens_left)
        tokens_left -= unfinished.tokens
        reading.spans.append((start, unfinished.end))
        if (repaired := _repair(text, start, unfinished)) is not None:
            reading.found.append(repaired)
            pos = repaired.end
            continue
        if unfinished.arguments_at is not None and (arguments := _decode(text, unfinished.arguments_at, _RESCUED)):
            # A complete `arguments` object holds all of the call's arguments, whatever follows it.
            reading.found.append(arguments)
        if unfinished.cut:
            reading.cut_at = start
            break
        if unfinished.unread is not None:
            # Where such an object ends is not known without following it all: nothing after it is read.
            reading.unread = unfinished.unread
            break
        reading.unfinished_at = reading.unfinished_at or unfinished.ended_by
        # Go on where it stopped being JSON: what came before was JSON, and `{` inside its strings is text.
        pos = max(unfinished.end, start + 1)
    return reading


def _decode(text: str, start: int, note: str | None = None) -> _Found | None:
    try:
        obj, end = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):
        return None
    return _Found(obj, start, end, _closed_at(text, end), note) if isinstance(obj, dict) else None


def _closed_at(text: str, end: int) -> bool:
    return text.startswith(_CLOSE_TAG, _WHITESPACE.match(text, end).end())


def _repair(text: str, start: int, unfinished: _Unfinished) -> _Found | None:
    """The object with the closing braces the model dropped before ending the call itself, if that is all it lacks."""
    braces = unfinished.missing_braces
    if braces is None:
        return None
    try:
        obj = _DECODER.decode(text[start : unfinished.end] + "}" * braces)
    except ValueError:  # a bad escape in a string; the scan kept nesting within MAX_DEPTH
        return None
    note = f"{braces} closing brace(s) were missing before {unfinished.ended_by} and were added"
    return _Found(obj, start, unfinished.end, unfinished.ended_by == _CLOSE_TAG, note)


def _scan(text: str, start: int, max_tokens: int) -> _Unfinished:
    """Follow JSON's grammar from the `{` at `start`, one token per step, to where the text stops being JSON or
    runs out, following at most `max_tokens` tokens."""
    stack: list[str] = []
    key = ""  # the last key read in the outermost object
    arguments_at: int | None = None
    expect = _VALUE
    i, n, tokens = start, len(text), 0
    match = _TOKEN.match
    while (token := match(text, i)) is not None:
        if tokens == max_tokens:
            return _Unfinished(i, tokens=tokens, unread=f"holds more than {MAX_SCAN_TOKENS} tokens of unfinished JSON")
        tokens += 1
        kind = token.lastindex
        i = token.end()
        if kind == _STRING and expect in (_KEY, _KEY_OR_CLOSE):
            if len(stack) == 1:
                key = token.group(kind)
            expect = _COLON_NEXT
        elif kind in (_STRING, _SCALAR) and expect in (_VALUE, _VALUE_OR_CLOSE):
            if (kind == _SCALAR and (i == n or text[i] in _NUMBER_GOES_ON)
                    and _NUMBER_START.match(text, token.start(kind)).end() == n):
                return _Unfinished(n, cut=True, arguments_at=arguments_at, tokens=tokens)  # a number cut short
            expect = _NEXT
        elif kind == _OPEN and expect in (_VALUE, _VALUE_OR_CLOSE):
            if len(stack) == MAX_DEPTH:
                return _Unfinished(i - 1, tokens=tokens, unread=f"nests JSON more than {MAX_DEPTH} levels deep")
            opener = text[i - 1]  # brackets are one character, so the token ends just after it
            if opener == "{" and len(stack) == 1 and expect == _VALUE and key == '"arguments"':
                arguments_at = i - 1
            stack.append(opener)
            expect = _KEY_OR_CLOSE if opener == "{" else _VALUE_OR_CLOSE
        elif (kind == _CLOSE and stack and text[i - 1] == _CLOSER[stack[-1]]
              and expect in (_NEXT, _KEY_OR_CLOSE if stack[-1] == "{" else _VALUE_OR_CLOSE)):
            stack.pop()
            expect = _NEXT
            if not stack:  # whole, yet the decoder refused it (a bad escape in a string)
                return _Unfinished(i, arguments_at=arguments_at, tokens=tokens)
        elif kind == _COLON and expect == _COLON_NEXT:
            expect = _VALUE
        elif kind == _COMMA and expect == _NEXT:
            expect = _KEY if stack[-1] == "{" else _VALUE
        else:  # a token JSON does not allow here
            return _stopped(text, token.start(kind), stack, expect, arguments_at, tokens)
    at = _WHITESPACE.match(text, i).end()
    if at == n or _runs_out(text, at, expect):
        return _Unfinished(n, cut=True, arguments_at=arguments_at, tokens=tokens)
    return _stopped(text, at, stack, expect, arguments_at, tokens)


def _runs_out(text: str, at: int, expect: int) -> bool:
    """Whether the text from `at`, where no whole token starts, is one the text ended inside: an unterminated
    string, or a number or literal that may go on."""
    if text[at] == '"':
        return expect in (_VALUE, _VALUE_OR_CLOSE, _KEY, _KEY_OR_CLOSE)
    if expect not in (_VALUE, _VALUE_OR_CLOSE):
        return False
    n = len(text)
    if _NUMBER_START.match(text, at).end() == n:
        return True
    return any(n - at < len(word) and word.startswith(text[at:]) for word in _LITERALS)


def _stopped(text: str, at: int, stack: list[str], expect: int, arguments_at: int | None, tokens: int) -> _Unfinished:
    """Where the object stops being JSON before the text's end: whether the model ended the call there itself."""
    ended_by = next((e for e in _CALL_ENDS if text.startswith(e, at)), None)
    closable = ended_by is not None and expect == _NEXT and all(s == "{" for s in stack)
    return _Unfinished(at, ended_by=ended_by, missing_braces=len(stack) if closable else None,
                       arguments_at=arguments_at, tokens=tokens)


def _to_action(obj: dict[str, Any], space: ActionSpace, notes: list[str], bare_note: bool = True) -> ParsedAction:
    if "arguments" in obj or "name" in obj:
        name, arguments = obj.get("name"), obj.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments, strict=False)
            except (ValueError, RecursionError):
                raise ParseError("`arguments` is a string that is not a JSON object; give it as an object") from None
            notes.append("`arguments` was given as a JSON string")
        if name != space.tool_name:
            notes.append(f"tool name {name!r} is not {space.tool_name!r}; the arguments were used")
    else:
        arguments = obj
        if bare_note:
            notes.append("the arguments were given without the tool call around them")
    if not isinstance(arguments, dict):
        raise ParseError(f'`arguments` must be a JSON object like {{"action": ...}}, got {_short(arguments)}')
    tag = arguments.get("action")
    if tag not in space.tags:
        raise ParseError(f"unknown action {_short(tag)}; the available actions are {', '.join(space.tags)}")
    try:
        action = space.validate(arguments)
    except ValidationError as e:
        raise ParseError(f"the arguments of `{tag}` are invalid: {_explain(e)}") from None
    # The call as the model wrote it (values and order untouched): the history shows the model its own words.
    return ParsedAction(action, {"name": space.tool_name, "arguments": arguments}, notes)


def _explain(error: ValidationError) -> str:
    parts = []
    for err in error.errors()[:4]:
        # The first location element is the union tag; the rest names the argument.
        loc = ".".join(str(x) for x in err["loc"][1:]) or "arguments"
        msg = err["msg"].removeprefix("Value error, ")  # our validators' own messages
        if err["type"] == "extra_forbidden":
            msg = "not an argument of this action"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def _short(value: Any) -> str:
    return clip(json.dumps(value, ensure_ascii=False, default=str), 60)
