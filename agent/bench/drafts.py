"""How many passes grammar drafts leave per action: `python -m agent bench --drafts`.

No weights are needed. Once the model writes what a trained checkpoint writes, the canonical tokens of the
`json.dumps` call, the number of passes depends only on the tokenizer and the grammar. A scripted model that puts
all its weight on the script's next token stands in for it, and the engine's own decode loop runs over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actions.space import COMPUTER, MOBILE, ActionSpace, tool_call_text
from agent.models.engine import StepEngine
from agent.models.token_chooser import TokenChooser
from agent.models.grammar import ToolCallGrammars

# (space, screen as the model sees it, calls): the actions an episode is made of.
SAMPLE_CALLS: tuple[tuple[ActionSpace, tuple[int, int], tuple[dict[str, Any], ...]], ...] = (
    (COMPUTER, (1932, 1092), (
        {"action": "left_click", "coordinate": [960, 540]},
        {"action": "type", "text": "Hello, world! This is a test."},
        {"action": "key", "keys": ["ctrl", "l"]},
        {"action": "scroll", "pixels": -300, "coordinate": [700, 500]},
        {"action": "terminate", "status": "success"},
    )),
    (MOBILE, (1092, 2408), (
        {"action": "click", "coordinate": [540, 1200]},
        {"action": "swipe", "coordinate": [540, 1800], "coordinate2": [540, 600]},
        {"action": "type", "text": "Buy milk"},
        {"action": "system_button", "button": "Back"},
        {"action": "open", "text": "Settings"},
    )),
)


@dataclass(frozen=True)
class DraftCount:
    space: str
    action: str
    tokens: int  # the answer's tokens, end-of-turn included
    passes: int  # model passes after prefill with drafts; `generate` makes tokens - 1


class _ScriptedEngine(StepEngine):
    """The engine's decode loop over a model that always wants the script's next token (no weights)."""

    def __init__(self, tokenizer: Any, script: list[int], vocab_size: int) -> None:
        # Only what the decode loop touches; there is no model, cache or device.
        self.tokenizer = tokenizer
        self.draft = True
        self._script = script
        self._vocab_size = vocab_size
        self._length = 0  # script tokens fed so far

    def _forward_chunk(self, tokens: list[int]) -> Any:
        import torch

        rows = torch.zeros((len(tokens), self._vocab_size))
        for i in range(len(tokens)):
            following = self._length + i + 1
            if following < len(self._script):
                rows[i, self._script[following]] = 100.0
        self._length += len(tokens)
        return rows

    def _truncate(self, length: int) -> None:
        self._length = length


def _in_schema_order(space: ActionSpace, width: int, height: int, call: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments in the order the grammar writes them (the schema's)."""
    for branch in space.call_schema(width, height)["properties"]["arguments"]["anyOf"]:
        if call["action"] in branch["properties"]["action"]["enum"]:
            return {key: call[key] for key in branch["properties"] if key in call}
    raise ValueError(f"{call['action']!r} is not an action of the {space.name} space")


def count_passes(grammars: ToolCallGrammars, tokenizer: Any, stop_token_ids: list[int], space: ActionSpace,
                 size: tuple[int, int], call: dict[str, Any]) -> DraftCount:
    arguments = _in_schema_order(space, *size, call)
    text = tool_call_text(space.tool_name, arguments)
    script = [*tokenizer.encode(text, add_special_tokens=False), stop_token_ids[0]]
    vocab_size = grammars.tokenizer_info.vocab_size
    chooser = TokenChooser(stop_token_ids, grammars.compiled(space, *size))
    engine = _ScriptedEngine(tokenizer, script, vocab_size)
    # The first token comes out of prefill: here, the script's first.
    out, passes, _ = engine.decode(chooser.choose(_first_row(script[0], vocab_size)), chooser, len(script))
    if out != script:
        raise ValueError(f"the grammar does not allow the canonical tokens of {text!r}")
    return DraftCount(space.name, call["action"], len(script), passes)


def _first_row(token: int, vocab_size: int) -> Any:
    import torch

    row = torch.zeros(vocab_size)
    row[token] = 100.0
    return row


def count_sample_passes(tokenizer: Any, vocab_size: int, stop_token_ids: list[int]) -> list[DraftCount]:
    grammars = ToolCallGrammars(tokenizer, vocab_size=vocab_size, stop_token_ids=stop_token_ids)
    return [count_passes(grammars, tokenizer, stop_token_ids, space, size, call)
            for space, size, calls in SAMPLE_CALLS for call in calls]


__all__ = ["SAMPLE_CALLS", "DraftCount", "count_passes", "count_sample_passes"]
