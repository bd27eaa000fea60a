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
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from loguru import logger

from actions.space import TOOL_CALL_CLOSE, TOOL_CALL_OPEN, ActionSpace
from agent.models.grammar_cache import MIN_COMPILE_S, CompiledGrammarStore

# Distinct (space, size, thought) grammars kept compiled; screens come in few sizes.
GRAMMAR_CACHE_SIZE = 32


# xgrammar 0.2.8 writes a string with a length bound as `"\"" X_characters{low, high} "\""` (high -1: none) with
# `X_characters ::= (([^\"\\\r\n]))`: raw control characters (a tab, a form feed) pass, escapes do not.
_XGRAMMAR_BOUNDED_CHAR = r"(([^\"\\\r\n]))"
_BOUNDED_STRING = re.compile(r'"\\"" (?P<name>\w+_characters)\{(?P<low>\d+), (?P<high>-?\d+)\} "\\""')
_BOUNDED_CHAR_RULE = re.compile(r"^\w+_characters ::= " + re.escape(_XGRAMMAR_BOUNDED_CHAR) + r"\n", re.MULTILINE)
_PREFIX = "bounded_string"
_HEX = "[0-9a-fA-F]"
# A \u escape names a code point that is not a surrogate, or a whole surrogate pair: the text always decodes
# to valid Unicode, and each unit the bound counts is exactly one decoded character.
_ESCAPE_RULES = [
    rf'{_PREFIX}_escape ::= (([\"\\/bfnrt]) | ("u" {_PREFIX}_code))',
    (
        rf"{_PREFIX}_code ::= (([0-9a-cA-CefEF] {_HEX} {_HEX} {_HEX}) | ([dD] [0-7] {_HEX} {_HEX})"
        rf' | ([dD] [89abAB] {_HEX} {_HEX} "\\u" [dD] [c-fC-F] {_HEX} {_HEX}))'
    ),
]


def _unit_then(rest: str) -> str:
    """One unit of a JSON string, then `rest`: a character JSON allows unescaped (not the quote, the backslash
    or U+0000-U+001F) or one escape."""
    return rf'([^\0-\x1f\"\\] {rest}) | ("\\" {_PREFIX}_escape {rest})'


def _rest_rule(low: int, high: int | None, rules: dict[str, str]) -> str:
    """The rule for the rest of a string after its opening quote: `low` to `high` more units, then the quote.

    Written as right-recursive rules, one per remaining length, like xgrammar's own unbounded string rule:
    a bounded repetition `unit{0, n}` of a rule with alternatives makes xgrammar check the whole vocabulary
    at every step inside the string (seconds per token with a 150k vocabulary); this chain keeps masks cached.
    """
    if low > 0:
        name = f"{_PREFIX}_{'inf' if high is None else high}_min{low}"
        if name not in rules:
            rest = _rest_rule(low - 1, None if high is None else high - 1, rules)
            rules[name] = f"{name} ::= ({_unit_then(rest)})"
        return name
    if high is None:
        name = f"{_PREFIX}_inf"
        rules.setdefault(name, f'{name} ::= (("\\"") | {_unit_then(name)})')
        return name
    for n in range(high + 1):
        name = f"{_PREFIX}_{n}"
        if name not in rules:
            rules[name] = (
                f'{name} ::= (("\\""))' if n == 0 else f'{name} ::= (("\\"") | {_unit_then(f"{_PREFIX}_{n - 1}")})'
            )
    return f"{_PREFIX}_{high}"


def json_schema_grammar(schema: Any) -> Any:
    r"""The compact-JSON grammar of `schema` (json.dumps spacing, strict), its bounded strings allowing escapes.

    xgrammar's rule for a string with a minLength or maxLength admits raw control characters and no escapes,
    so such a string could not hold a quote or a backslash. It is replaced by JSON's: characters JSON allows
    unescaped (never U+0000-U+001F, `"` or `\`) and escapes (\" \\ \/ \b \f \n \r \t \uXXXX). The bounds
    count decoded characters: an escape is one, a \u surrogate pair (one astral character) is one. Unbounded
    strings keep xgrammar's own rule, which already allows escapes and refuses raw control characters.
    """
    import xgrammar as xgr

    ebnf = str(xgr.Grammar.from_json_schema(schema, any_whitespace=False, strict_mode=True))
    if re.search(rf"^{_PREFIX}\w* ::=", ebnf, re.MULTILINE):
        raise RuntimeError(f"xgrammar's JSON-schema grammar already has rules named {_PREFIX}*")
    rules: dict[str, str] = {}

    def replace(m: re.Match[str]) -> str:
        high = int(m["high"])
        return '"\\"" ' + _rest_rule(int(m["low"]), None if high < 0 else high, rules)

    fixed = _BOUNDED_CHAR_RULE.sub("", _BOUNDED_STRING.sub(replace, ebnf))
    if _XGRAMMAR_BOUNDED_CHAR in fixed or re.search(r"\w_characters\{", fixed):
        # Another xgrammar version writes bounded strings differently: fail loudly rather than constrain wrongly.
        raise RuntimeError(
            "unexpected bounded-string rule in xgrammar's JSON-schema grammar; check the xgrammar version"
        )
    if not rules:
        return xgr.Grammar.from_ebnf(ebnf)
    return xgr.Grammar.from_ebnf("\n".join([fixed.rstrip("\n"), *_ESCAPE_RULES, *rules.values()]) + "\n")


def _literal(text: str) -> Any:
    import xgrammar as xgr

    return xgr.Grammar.from_ebnf(f"root ::= {json.dumps(text)}")


def tool_call_grammar(space: ActionSpace, width: int, height: int, thought_tokens: int | None = None) -> Any:
    """The xgrammar Grammar of one answer; `thought_tokens` allows that many tokens of text before the call."""
    import xgrammar as xgr
    from xgrammar.structural_tag import AnyTextFormat, StructuralTag

    if width <= 0 or height <= 0:
        raise ValueError(f"image size {width}x{height} has no pixels; the request's image_size must be positive")
    call = xgr.Grammar.concat(
        _literal(TOOL_CALL_OPEN), json_schema_grammar(space.call_schema(width, height)), _literal(TOOL_CALL_CLOSE)
    )
    if thought_tokens is None:
        return call
    # Free text may not contain the opening tag itself, so the first "<tool_call>" always starts the call; its
    # token budget guarantees the call still begins in time, however long-winded the model is.
    thought = xgr.Grammar.from_structural_tag(
        StructuralTag(format=AnyTextFormat(excludes=[TOOL_CALL_OPEN.strip()], max_tokens=thought_tokens))
    )
    return xgr.Grammar.concat(thought, call)


@lru_cache(maxsize=GRAMMAR_CACHE_SIZE)
def tool_call_ebnf(space: ActionSpace, width: int, height: int) -> str:
    """The tool-call grammar as EBNF text in xgrammar's dialect, `<tool_call>` and `</tool_call>` included: what
    vLLM's and SGLang's structured outputs take (their default grammar backend is xgrammar)."""
    return str(tool_call_grammar(space, width, height))


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

    def __init__(
        self, tokenizer: Any, vocab_size: int, stop_token_ids: list[int], cache_dir: Path | None = None,
        min_compile_s: float = MIN_COMPILE_S,
    ) -> None:
        import xgrammar as xgr

        self._info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=stop_token_ids)
        # xgrammar's own cache trips over regex-string rules (a failed internal check in 0.2.8); ours is enough.
        # Compiling scales with threads (measured: 7.7 s on one, 3.8 s on two) and the agent waits for it.
        threads = min(os.cpu_count() or 2, 16)
        self._compiler = xgr.GrammarCompiler(self._info, max_threads=threads, cache_enabled=False)
        self._store = CompiledGrammarStore(cache_dir, self._info, min_compile_s) if cache_dir is not None else None
        self._compiled: OrderedDict[GrammarKey, Any] = OrderedDict()
        self._compiled_ebnf: OrderedDict[str, Any] = OrderedDict()
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
        compiled = self._compile(tool_call_grammar(space, width, height, thought_tokens))
        logger.debug("{} tool-call grammar for {}x{} (thought {}) ready", space.name, width, height, thought_tokens)
        with self._lock:
            self._compiled[key] = compiled
            while len(self._compiled) > GRAMMAR_CACHE_SIZE:
                self._compiled.popitem(last=False)
        return compiled

    def compiled_ebnf(self, text: str) -> Any:
        """A grammar given as EBNF text, as a server is sent one (see `tool_call_ebnf`)."""
        import xgrammar as xgr

        with self._lock:
            if text in self._compiled_ebnf:
                return self._compiled_ebnf[text]
        compiled = self._compile(xgr.Grammar.from_ebnf(text))
        with self._lock:
            self._compiled_ebnf[text] = compiled
            while len(self._compiled_ebnf) > GRAMMAR_CACHE_SIZE:
                self._compiled_ebnf.popitem(last=False)
        return compiled

    def _compile(self, grammar: Any) -> Any:
        """Compiled `grammar`: from the disk store when it has it, else compiled now and stored."""
        if self._store is not None and (stored := self._store.load(grammar)) is not None:
            return stored
        started = time.perf_counter()
        compiled = self._compiler.compile_grammar(grammar)
        if self._store is not None:
            self._store.save_later(grammar, compiled, time.perf_counter() - started)
        return compiled

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


__all__ = [
    "ToolCallGrammars",
    "json_schema_grammar",
    "split_tool_call",
    "tool_call_ebnf",
    "tool_call_grammar",
]
