"""Compiled grammars on disk: compiled once per machine, never stale, never trusted when unreadable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.models.grammar import ToolCallGrammars, json_schema_grammar
from agent.models.grammar_cache import grammar_cache_dir

# Small grammars: the tool-call grammar's 500-character strings take seconds to serialise, even for the tiny
# tokenizer; the store does not care which grammar it holds.
POINT = {"type": "object", "properties": {"x": {"type": "integer", "minimum": 0, "maximum": 63}}, "required": ["x"]}
NAME = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}}, "required": ["name"]}


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def grammars(tokenizer: Any, cache_dir: Path | None, min_compile_s: float = 0.0) -> ToolCallGrammars:
    """Grammars of the tiny tokenizer; it compiles in milliseconds, so every grammar is stored unless told not to."""
    return ToolCallGrammars(tokenizer, vocab_size=len(tokenizer), stop_token_ids=[tokenizer.eos_token_id],
                            cache_dir=cache_dir, min_compile_s=min_compile_s)


def accepts(compiled: Any, text: str) -> bool:
    import xgrammar as xgr

    return bool(xgr.GrammarMatcher(compiled).accept_string(text))


def test_a_grammar_compiles_once_per_machine(tokenizer: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = grammars(tokenizer, tmp_path)
    first.compiled_ebnf(str(json_schema_grammar(POINT)))
    first._store.wait()
    assert len(list(tmp_path.glob("*.json.z"))) == 1
    # A new process (a new owner) loads it instead of compiling, and it constrains the same way.
    second = grammars(tokenizer, tmp_path)

    def refuse(*_: object) -> None:
        raise AssertionError("compiled although the store had it")

    monkeypatch.setattr(second._compiler, "compile_grammar", refuse)
    loaded = second.compiled_ebnf(str(json_schema_grammar(POINT)))
    assert accepts(loaded, '{"x": 63}') and not accepts(loaded, '{"x": 64}')
    # Another grammar is another file.
    monkeypatch.undo()
    second.compiled_ebnf(str(json_schema_grammar(NAME)))
    second._store.wait()
    assert len(list(tmp_path.glob("*.json.z"))) == 2
    # A grammar that compiles faster than a file would load is not stored.
    quick = grammars(tokenizer, tmp_path, min_compile_s=60.0)
    quick.compiled_ebnf(str(json_schema_grammar({"type": "object", "properties": {"y": {"type": "boolean"}}})))
    quick._store.wait()
    assert len(list(tmp_path.glob("*.json.z"))) == 2


def test_an_unreadable_file_is_compiled_again(tokenizer: Any, tmp_path: Path) -> None:
    first = grammars(tokenizer, tmp_path)
    first.compiled_ebnf(str(json_schema_grammar(NAME)))
    first._store.wait()
    (stored,) = tmp_path.glob("*.json.z")
    whole = stored.read_bytes()
    stored.write_bytes(whole[: len(whole) // 2])  # cut short, as by a full disk
    again = grammars(tokenizer, tmp_path)
    compiled = again.compiled_ebnf(str(json_schema_grammar(NAME)))
    again._store.wait()
    assert accepts(compiled, '{"name": "ab"}') and not accepts(compiled, '{"name": "abcdefghi"}')
    assert stored.read_bytes() == whole  # replaced by a whole one
    assert again._store.load(json_schema_grammar(NAME)) is not None


def test_the_cache_folder_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGENT_CACHE_DIR", str(tmp_path))
    assert grammar_cache_dir() == tmp_path / "grammars"
    monkeypatch.setenv("AGENT_CACHE_DIR", "off")
    assert grammar_cache_dir() is None
    monkeypatch.delenv("AGENT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert grammar_cache_dir() == tmp_path / "xdg" / "qwen-gui-agent" / "grammars"
