"""Model text to a typed action, accepting what Qwen2.5-VL really writes, or a ParseError to show the model.

Accepted: `<tool_call>{...}</tool_call>` (also unclosed), fenced ```json blocks, bare JSON, prose before
or after, `arguments` given as a JSON string, numbers given as strings, a bare arguments object
(`{"action": ...}`). Model text is only ever read as JSON; nothing in it is evaluated.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from actions.base import Action
from actions.space import ActionSpace
from actions.text import clip

# Bounds on work per answer, so a pathological output cannot stall the loop.
MAX_SCAN_CHARS = 20_000
MAX_JSON_STARTS = 200

_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|<tool_call>|$)", re.DOTALL)
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)(?:```|$)", re.DOTALL)
# strict=False: raw control characters inside strings (a tab, a newline in typed text) are accepted, as
# models and grammars do emit them.
_DECODER = json.JSONDecoder(strict=False)


class ParseError(ValueError):
    """The answer holds no usable action. The message is written to be shown to the model."""


@dataclass(frozen=True)
class ParsedAction:
    action: Action
    # The tool call as understood: {"name": ..., "arguments": {...}}.
    call: dict[str, Any]
    # Things worth recording: repairs made, extra tool calls ignored.
    notes: list[str] = field(default_factory=list)


def parse_action(text: str, space: ActionSpace) -> ParsedAction:
    """Parse the first tool call in `text` into an action of `space`."""
    if not isinstance(text, str) or not text.strip():
        raise ParseError(f"the answer was empty; reply with one <tool_call> calling {space.tool_name}")
    text = text[:MAX_SCAN_CHARS]
    notes: list[str] = []
    blocks = [m.group(1) for m in _TOOL_CALL.finditer(text)]
    if blocks and "</tool_call>" not in text:
        notes.append("the <tool_call> block was not closed")
    if not blocks:
        blocks = [m.group(1) for m in _FENCE.finditer(text)] or [text]
    objects = [obj for block in blocks for obj in _json_objects(block)]
    calls = [obj for obj in objects if "name" in obj or "action" in obj or "arguments" in obj]
    if not calls:
        raise ParseError(
            "no tool call was found in the answer; reply with "
            f'<tool_call>\n{{"name": "{space.tool_name}", "arguments": {{"action": ...}}}}\n</tool_call>'
        )
    if len(calls) > 1:
        notes.append(f"{len(calls)} tool calls in the answer; the first was used")
    return _to_action(calls[0], space, notes)


def _json_objects(block: str) -> list[dict[str, Any]]:
    """Every top-level JSON object in `block`, in order; text around and between them is ignored."""
    found: list[dict[str, Any]] = []
    pos, starts = 0, 0
    while (start := block.find("{", pos)) != -1 and starts < MAX_JSON_STARTS:
        starts += 1
        obj, end = _decode_at(block, start)
        if isinstance(obj, dict):
            found.append(obj)
            pos = end
        else:
            pos = start + 1
    return found


def _decode_at(block: str, start: int) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(block, start)
    except (ValueError, RecursionError):
        pass
    # A truncated answer often lacks only its closing braces (a missing </tool_call> cut it short).
    tail = block[start:].rstrip()
    for closing in ("}", "}}", "]}}", '"}}'):
        try:
            obj = json.loads(tail + closing, strict=False)
        except (ValueError, RecursionError):
            continue
        return obj, len(block)
    return None, start + 1


def _to_action(obj: dict[str, Any], space: ActionSpace, notes: list[str]) -> ParsedAction:
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
    return ParsedAction(action, {"name": space.tool_name, "arguments": action.arguments()}, notes)


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
