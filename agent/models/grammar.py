"""Constrained decoding: the answer is always one tool call that validates against the action space.

The grammar is Qwen's function-call format,

    [free text, only when thoughts are allowed] "<tool_call>\n" JSON "\n</tool_call>"

where JSON follows `space.call_schema(width, height)`: the tool's name, one action's arguments, every
point inside the image, every string and number bounded. The JSON is written compactly, with the
separators `json.dumps` uses (", " and ": ") and no other whitespace: that is what the checkpoints
saw in training, and a grammar with free whitespace lets a weak model emit blanks until it runs out of
tokens.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from loguru import logger

from actions.space import ActionSpace

TOOL_CALL_OPEN = "<tool_call>\n"
TOOL_CALL_CLOSE = "\n</tool_call>"
# Distinct (space, size, thought) grammars kept compiled; screens come in few sizes.
GRAMMAR_CACHE_SIZE = 32


def decoding_schema(schema: Any) -> Any:
    """`schema` with every free string pinned to characters JSON allows unescaped, length bounds kept.

    xgrammar's own string rule admits raw control characters (a tab, a form feed), and with a maxLength it
    admits no escapes at all. Pinning keeps strings bounded and always parseable; the price is that quotes
    and backslashes cannot be typed under constraint (xgrammar 0.2.8 offers no bounded string with escapes).
    """
    if isinstance(schema, list):
        return [decoding_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: decoding_schema(value) for key, value in schema.items()}
    if out.get("type") == "string" and not {"enum", "const", "pattern", "format"} & out.keys():
        low = int(out.pop("minLength", 0))
        high = out.pop("maxLength", None)
        repeat = f"{{{low},{int(high)}}}" if high is not None else f"{{{low},}}"
        out["pattern"] = f'^[^\\x00-\\x1f"\\\\]{repeat}$'
    return out


def _literal(text: str) -> Any:
    import xgrammar as xgr

    return xgr.Grammar.from_ebnf(f"root ::= {json.dumps(text)}")


def tool_call_grammar(space: ActionSpace, width: int, height: int, thought_tokens: int | None = None) -> Any:
    """The xgrammar Grammar of one answer; `thought_tokens` allows that many tokens of text before the call."""
    import xgrammar as xgr
    from xgrammar.structural_tag import AnyTextFormat, StructuralTag

    if width <= 0 or height <= 0:
        raise ValueError(f"image size {width}x{height} has no pixels; the request's image_size must be positive")
    schema = decoding_schema(space.call_schema(width, height))
    call = xgr.Grammar.concat(
        _literal(TOOL_CALL_OPEN),
        xgr.Grammar.from_json_schema(schema, any_whitespace=False, strict_mode=True),
        _literal(TOOL_CALL_CLOSE),
    )
    if thought_tokens is None:
        return call
    # Free text may not contain the opening tag itself, so the first "<tool_call>" always starts the call; its
    # token budget guarantees the call still begins in time, however long-winded the model is.
    thought = xgr.Grammar.from_structural_tag(
        StructuralTag(format=AnyTextFormat(excludes=[TOOL_CALL_OPEN.strip()], max_tokens=thought_tokens))
    )
    return xgr.Grammar.concat(thought, call)


@dataclass(frozen=True)
class GrammarKey:
    space: ActionSpace
    width: int
    height: int
    thought_tokens: int | None


class ToolCallGrammars:
    """Compiles tool-call grammars for one tokenizer and keeps the recent ones.

    `vocab_size` is the model's logits width, which the released checkpoints pad past the tokenizer's
    length; `stop_token_ids` are the tokens that may end the answer once the call is closed.
    """

    def __init__(self, tokenizer: Any, vocab_size: int, stop_token_ids: list[int]) -> None:
        import xgrammar as xgr

        self._info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=stop_token_ids)
        # xgrammar's own cache trips over regex-string rules (a failed internal check in 0.2.8); ours is enough.
        self._compiler = xgr.GrammarCompiler(self._info, max_threads=2, cache_enabled=False)
        self._compiled: OrderedDict[GrammarKey, Any] = OrderedDict()
        self._compiled_json: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.stop_token_ids = list(stop_token_ids)

    @property
    def tokenizer_info(self) -> Any:
        return self._info

    def compiled(self, space: ActionSpace, width: int, height: int, thought_tokens: int | None = None) -> Any:
        key = GrammarKey(space, width, height, thought_tokens)
        with self._lock:
            if key in self._compiled:
                self._compiled.move_to_end(key)
                return self._compiled[key]
        grammar = tool_call_grammar(space, width, height, thought_tokens)
        compiled = self._compiler.compile_grammar(grammar)
        logger.debug("compiled the {} tool-call grammar for {}x{} (thought {})", space.name, width, height, thought_tokens)
        with self._lock:
            self._compiled[key] = compiled
            while len(self._compiled) > GRAMMAR_CACHE_SIZE:
                self._compiled.popitem(last=False)
        return compiled

    def compiled_json(self, schema: dict[str, Any]) -> Any:
        """A bare JSON answer following `schema`, compact like the tool call: what a server's
        json_schema response format asks for."""
        import xgrammar as xgr

        key = json.dumps(schema, sort_keys=True)
        with self._lock:
            if key in self._compiled_json:
                return self._compiled_json[key]
        grammar = xgr.Grammar.from_json_schema(decoding_schema(schema), any_whitespace=False, strict_mode=True)
        compiled = self._compiler.compile_grammar(grammar)
        with self._lock:
            self._compiled_json[key] = compiled
            while len(self._compiled_json) > GRAMMAR_CACHE_SIZE:
                self._compiled_json.popitem(last=False)
        return compiled

    def logits_processor(self, space: ActionSpace, width: int, height: int, thought_tokens: int | None = None) -> Any:
        """A fresh transformers logits processor for one `generate` call (they hold per-call state)."""
        from xgrammar.contrib.hf import LogitsProcessor

        return LogitsProcessor(self.compiled(space, width, height, thought_tokens))

    def matcher(self, space: ActionSpace, width: int, height: int, thought_tokens: int | None = None) -> Any:
        """A grammar matcher, to check a finished text against the same grammar (tests, servers)."""
        import xgrammar as xgr

        return xgr.GrammarMatcher(self.compiled(space, width, height, thought_tokens))


def split_tool_call(text: str) -> tuple[str, str]:
    """(text before the call, the call's JSON) of an answer in the constrained format; ValueError otherwise."""
    start = text.find(TOOL_CALL_OPEN)
    end = text.rfind(TOOL_CALL_CLOSE)
    if start < 0 or end < start:
        raise ValueError(f"no complete <tool_call>...</tool_call> in {text!r}")
    return text[:start], text[start + len(TOOL_CALL_OPEN) : end]


__all__ = ["ToolCallGrammars", "tool_call_grammar", "decoding_schema", "split_tool_call", "TOOL_CALL_OPEN", "TOOL_CALL_CLOSE"]
