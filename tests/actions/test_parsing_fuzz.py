"""The parser's contract on the bench's generated corpus (agent/bench/parser.py): properties, not timing."""

from __future__ import annotations

import random

import pytest

from actions.parsing import MAX_DEPTH, ParseError, parse_action
from actions.space import MOBILE
from agent.bench.parser import KINDS, Answer, corpus, valid_answer

ANSWERS = corpus(3500, seed=16)


def _outcome(answer: Answer) -> object:
    """The action parsed, or None for a ParseError; any other exception fails the test."""
    try:
        parsed = parse_action(answer.text, answer.space)
    except ParseError as e:
        assert str(e), answer
        return None
    assert parsed.action.action in answer.space.tags and parsed.call["name"] == answer.space.tool_name
    return parsed.action


def test_the_corpus_holds_every_kind_of_answer() -> None:
    assert {a.kind for a in ANSWERS} == set(KINDS)
    assert max(len(a.text.encode()) for a in ANSWERS) == 10_240
    assert {a.must for a in ANSWERS} == {"parse", "refuse", "same_or_refuse", "any"}


@pytest.mark.parametrize("kind", KINDS)
def test_each_answer_gets_what_it_must(kind: str) -> None:
    # Valid calls and the same in prose and junk parse to their action; cut-off ones are refused, or give
    # the same action when only what follows the complete arguments was cut; anything else is an action of
    # the space or a ParseError, never another exception.
    wrong = []
    for answer in (a for a in ANSWERS if a.kind == kind):
        got = _outcome(answer)
        if answer.must == "parse" and got != answer.expected:
            wrong.append((answer, got))
        elif answer.must == "refuse" and got is not None:
            wrong.append((answer, got))
        elif answer.must == "same_or_refuse" and got not in (None, answer.expected):
            wrong.append((answer, got))
    assert not wrong, [(a.must, a.text[:200], got) for a, got in wrong[:3]]


def test_every_prefix_of_a_generated_call() -> None:
    # Cut anywhere before its arguments are complete, an answer is refused; cut after, it is the same
    # action or refused: never a click somewhere else, never part of a text.
    rng = random.Random(7)
    for _ in range(120):
        space, text, complete, action = valid_answer(rng)
        assert parse_action(text, space).action == action
        for cut in range(len(text)):
            answer = Answer("cut", space, text[:cut], "refuse" if cut < complete else "same_or_refuse", action)
            got = _outcome(answer)
            assert got is None if cut < complete else got in (None, action), (text[:cut], got)


def test_deep_unfinished_json_is_refused_with_what_to_do() -> None:
    text = '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": ' + "[" * (MAX_DEPTH + 5)
    with pytest.raises(ParseError, match=f"nests JSON more than {MAX_DEPTH} levels deep.*answer with one short"):
        parse_action(text + "\n</tool_call>", MOBILE)


def test_a_call_before_endless_junk_stands_and_the_rest_is_noted() -> None:
    call = ('<tool_call>\n{"name": "mobile_use", "arguments": {"action": "system_button", "button": "Back"}}'
            "\n</tool_call>")
    parsed = parse_action(call + '{"a":{"b":1\n</tool_call>' * 400, MOBILE)
    assert parsed.action.action == "system_button" and parsed.closed
    assert any("holds more than" in n and "not read" in n for n in parsed.notes), parsed.notes


def test_an_answer_past_the_read_limit_says_so() -> None:
    with pytest.raises(ParseError, match="longer than 20000 characters"):
        parse_action("thinking " * 3000, MOBILE)
