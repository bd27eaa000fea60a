"""The parser on what Qwen2.5-VL really writes, and on thousands of generated and mutated outputs."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actions.base import Action, Type
from actions.computer import Key, LeftClick, Scroll
from actions.mobile import Click, Swipe, SystemButton
from actions.parsing import ParseError, parse_action
from actions.space import BROWSER, COMPUTER, MOBILE, SPACES


def call(args: dict, name: str = "mobile_use") -> str:
    return json.dumps({"name": name, "arguments": args}, ensure_ascii=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"<tool_call>\n{call({'action': 'click', 'coordinate': [540, 1200]})}\n</tool_call>", Click(coordinate=(540, 1200))),
        # unclosed block, prose before it
        (f"I should tap the icon.\n<tool_call>\n{call({'action': 'click', 'coordinate': [1, 2]})}", Click(coordinate=(1, 2))),
        # the model ended the call but dropped its closing braces
        ('<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [7, 8]\n</tool_call>',
         Click(coordinate=(7, 8))),
        ('```json\n{"name": "mobile_use", "arguments": {"action": "system_button", "button": "Home"}\n```',
         SystemButton(button="Home")),
        # </tool_call> inside the text to type is text, not the end of the call
        (f"<tool_call>\n{call({'action': 'type', 'text': 'a</tool_call>b'})}\n</tool_call>", Type(text="a</tool_call>b")),
        # an unfinished call whose arguments object is complete: that object is all of the arguments
        ('<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [7, 8]}',
         Click(coordinate=(7, 8))),
        # fenced json block with prose after
        (f"```json\n{call({'action': 'system_button', 'button': 'Back'})}\n```\nDone.", SystemButton(button="Back")),
        # bare JSON with extra data after it
        (call({"action": "swipe", "coordinate": [1, 2], "coordinate2": [3, 4]}) + ' {"junk": 1}',
         Swipe(coordinate=(1, 2), coordinate2=(3, 4))),
        # arguments as a JSON string, numbers as strings
        (json.dumps({"name": "mobile_use", "arguments": json.dumps({"action": "click", "coordinate": ["10", "20.4"]})}),
         Click(coordinate=(10, 20))),
        # coordinate as one string
        (call({"action": "click", "coordinate": "[33, 44]"}), Click(coordinate=(33, 44))),
        # bare arguments object
        ('{"action": "click", "coordinate": [5, 6]}', Click(coordinate=(5, 6))),
    ],
)
def test_accepts_real_model_output(text: str, expected: Action) -> None:
    assert parse_action(text, MOBILE).action == expected


def test_computer_space_quirks() -> None:
    assert parse_action(call({"action": "key", "keys": "ctrl+c"}, "computer_use"), COMPUTER).action == Key(keys=["ctrl", "c"])
    assert parse_action(call({"action": "scroll", "pixels": "-300"}, "computer_use"), COMPUTER).action == Scroll(pixels=-300)
    assert parse_action(call({"action": "left_click", "coordinate": [3, 4]}, "computer_use"), COMPUTER).action == LeftClick(
        coordinate=(3, 4)
    )


def test_several_calls_take_the_first_and_say_so() -> None:
    text = (f"<tool_call>{call({'action': 'click', 'coordinate': [1, 1]})}</tool_call>"
            f"<tool_call>{call({'action': 'terminate', 'status': 'success'})}</tool_call>")
    parsed = parse_action(text, MOBILE)
    assert parsed.action == Click(coordinate=(1, 1))
    assert any("2 tool calls" in n for n in parsed.notes)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("I think the task is done.", "no tool call"),
        (call({"action": "fly"}), "unknown action"),
        (call({"action": "click"}), "coordinate"),
        (call({"action": "click", "coordinate": [1, 2], "speed": 3}), "speed: not an argument"),
        (call({"action": "click", "coordinate": [1, 2, 3]}), "coordinate"),
        (call({"action": "terminate", "status": "maybe"}), "status"),
        (call({"action": "system_button", "button": "Power"}), "button"),
        (json.dumps({"name": "mobile_use", "arguments": "not json"}), "not a JSON object"),
        (json.dumps({"name": "mobile_use", "arguments": [1, 2]}), "must be a JSON object"),
        # cut off: the text ends inside the call, whatever it would have become
        ('<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [7, 8]', "cut off"),
        ('<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [7, 8', "cut off"),
        ('{"name": "mobile_use", "arguments": {"action": "type", "text": "hello wor', "cut off"),
        # only a whole `arguments` object stands for the call, not the first of a list of actions
        ('{"name": "mobile_use", "arguments": [{"action": "click", "coordinate": [1, 2]}, {"action": "ty', "cut off"),
        # ended by the model, but inside an array: the array is never closed for it
        ('<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [7, 8\n</tool_call>',
         "unfinished where </tool_call> ends it"),
    ],
)
def test_unusable_output_gives_a_message_for_the_model(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_action(text, MOBILE)


@pytest.mark.parametrize(
    ("arguments", "space", "message"),
    [
        ({"action": "click", "coordinate": [True, 5]}, MOBILE, "coordinate: expected a number, got true"),
        ({"action": "swipe", "coordinate": [1, 2], "coordinate2": [3, False]}, MOBILE, "coordinate2: expected a number"),
        ({"action": "long_press", "coordinate": [1, 2], "time": True}, MOBILE, "time: expected a number, got true"),
        ({"action": "wait", "time": False}, COMPUTER, "time: expected a number, got false"),
        ({"action": "scroll", "pixels": True}, COMPUTER, "pixels: expected a number, got true"),
        ({"action": "left_click_drag", "coordinate": [1, 2], "start_coordinate": [True, 1]}, COMPUTER,
         "start_coordinate: expected a number"),
        # A number as a string is one whole number, not whatever float() takes.
        ({"action": "scroll", "pixels": "1_000"}, COMPUTER, "pixels: expected a number, got the string '1_000'"),
        ({"action": "wait", "time": "nan"}, COMPUTER, "time: expected a number, got the string 'nan'"),
        ({"action": "left_click", "coordinate": ["1_0", "2"]}, COMPUTER, "coordinate: expected a number"),
        ({"action": "left_click", "coordinate": "[1e999, 2]"}, COMPUTER, "coordinate: expected a pixel position"),
    ],
)
def test_booleans_and_odd_strings_are_not_numbers(arguments: dict, space, message: str) -> None:
    with pytest.raises(ParseError, match=re.escape(message)):
        parse_action(call(arguments, space.tool_name), space)


# Fragments of real answers, recombined and mutated.
FRAGMENTS = [
    "<tool_call>", "</tool_call>", "```json", "```", "\n", " ", "{", "}", "[", "]", '"', ",", ":",
    '"name"', '"arguments"', '"action"', '"mobile_use"', '"computer_use"', '"click"', '"coordinate"', '"text"',
    '"swipe"', '"coordinate2"', '"type"', '"terminate"', '"status"', '"success"', "12", "-3", "1e999", "NaN",
    "3.7", '"12"', "null", "true", "\\", "\\u00e9", "你好", "😀", "Thought: tap it.", "{{{{", "]]]]",
]


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(st.sampled_from(FRAGMENTS), max_size=40), space=st.sampled_from(list(SPACES.values())))
def test_fragments_give_an_action_or_a_parse_error(pieces: list[str], space) -> None:
    _parse_or_error("".join(pieces), space)


valid_arguments = st.one_of(
    st.fixed_dictionaries({"action": st.just("click"), "coordinate": st.tuples(st.integers(0, 5000), st.integers(0, 5000))}),
    st.fixed_dictionaries({"action": st.just("type"), "text": st.text(max_size=50)}),
    st.fixed_dictionaries({"action": st.just("swipe"), "coordinate": st.lists(st.integers(0, 99), min_size=2, max_size=2),
                           "coordinate2": st.lists(st.integers(0, 99), min_size=2, max_size=2)}),
    st.fixed_dictionaries({"action": st.just("terminate"), "status": st.sampled_from(["success", "failure"])}),
)


@settings(max_examples=2000, deadline=None)
@given(args=valid_arguments, cut=st.integers(0, 400), junk=st.text(max_size=20), wrap=st.booleans())
def test_mutated_valid_calls(args: dict, cut: int, junk: str, wrap: bool) -> None:
    text = call(args)
    if wrap:
        text = f"<tool_call>\n{text}\n</tool_call>"
    # Intact, the call parses to exactly its arguments.
    parsed = parse_action(text, MOBILE)
    assert parsed.action.arguments() == MOBILE.validate(args).arguments()
    # With junk inserted, it parses or fails with a ParseError, nothing else; cut short, it is the same action
    # or a ParseError.
    _parse_or_error(text[:cut] + junk + text[cut:], MOBILE)
    try:
        assert parse_action(text[:cut], MOBILE).action == parsed.action
    except ParseError:
        pass


@settings(max_examples=1000, deadline=None)
@given(text=st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    _parse_or_error(text, COMPUTER)


def test_pathological_nesting_is_bounded() -> None:
    with pytest.raises(ParseError):
        parse_action("{" * 100_000 + "[" * 100_000, MOBILE)


def _parse_or_error(text: str, space) -> None:
    try:
        parsed = parse_action(text, space)
    except ParseError as e:
        assert str(e)
        return
    assert parsed.action.action in space.tags
    assert parsed.call["name"] == space.tool_name


# Well-formed calls of every space; each is cut after every character below.
WELL_FORMED = [
    (COMPUTER, {"action": "left_click", "coordinate": [1234, 567]}),
    (COMPUTER, {"action": "double_click", "coordinate": [5, 1000]}),
    (COMPUTER, {"action": "mouse_move", "coordinate": [0, 0]}),
    (COMPUTER, {"action": "left_click_drag", "start_coordinate": [10, 20], "coordinate": [300, 405]}),
    (COMPUTER, {"action": "type", "text": 'say "hi" {x} </tool_call> \\ <tool_call> {"action": "wait"}'}),
    (COMPUTER, {"action": "type", "text": "Zoë 你好 😀\nline two\t}"}),
    (COMPUTER, {"action": "key", "keys": ["ctrl", "shift", "t"]}),
    (COMPUTER, {"action": "scroll", "pixels": -300, "coordinate": [640, 360]}),
    (COMPUTER, {"action": "wait", "time": 2.5}),
    (COMPUTER, {"action": "terminate", "status": "success"}),
    (COMPUTER.with_answer(), {"action": "answer", "text": "42, not {\"a\": 1}"}),
    (BROWSER, {"action": "navigate", "url": "https://example.com/a?b={c}"}),
    (BROWSER, {"action": "right_click", "coordinate": [99, 11]}),
    (MOBILE, {"action": "click", "coordinate": [1079, 2399]}),
    (MOBILE, {"action": "swipe", "coordinate": [540, 1800], "coordinate2": [540, 600]}),
    (MOBILE, {"action": "long_press", "coordinate": [100, 200], "time": 3}),
    (MOBILE, {"action": "system_button", "button": "Back"}),
    (MOBILE, {"action": "open", "text": "Settings"}),
    (MOBILE, {"action": "key", "text": "volume_up"}),
    (MOBILE, {"action": "type", "text": "12°C {}"}),
    (MOBILE.with_answer(), {"action": "answer", "text": "It is 12°C"}),
    (MOBILE, {"action": "terminate", "status": "failure"}),
]


def answer_forms(space, arguments: dict) -> list[str]:
    """The ways real answers write one call: tagged (with and without a thought), bare, compact, fenced,
    `arguments` as a string, and the bare arguments object."""
    whole = call(arguments, space.tool_name)
    return [
        f"<tool_call>\n{whole}\n</tool_call>",
        f"I will do it now.\n<tool_call>\n{whole}\n</tool_call>",
        whole,
        json.dumps({"name": space.tool_name, "arguments": arguments}, ensure_ascii=False, separators=(",", ":")),
        f"```json\n{whole}\n```",
        json.dumps({"name": space.tool_name, "arguments": json.dumps(arguments)}),
        json.dumps(arguments),
    ]


def prefix_outcomes() -> dict[str, int]:
    """Every prefix of every form of every well-formed call, parsed: how many gave the whole call's action,
    how many a ParseError, how many something else (there must be none)."""
    counts = {"prefixes": 0, "full action": 0, "error": 0, "other": 0}
    for space, arguments in WELL_FORMED:
        expected = space.validate(arguments)
        for text in answer_forms(space, arguments):
            assert parse_action(text, space).action == expected, text
            for cut in range(len(text) + 1):
                counts["prefixes"] += 1
                try:
                    action = parse_action(text[:cut], space).action
                except ParseError:
                    counts["error"] += 1
                    continue
                counts["full action" if action == expected else "other"] += 1
                assert action == expected, f"{text[:cut]!r} parsed to {action!r}"
    return counts


def test_every_prefix_of_a_call_gives_its_action_or_an_error() -> None:
    # A cut-off answer is never another action: no click at (1234, 5), no click at the cursor, no part of a text.
    counts = prefix_outcomes()
    assert counts["other"] == 0 and counts["full action"] > 0, counts
