"""The prompt against the Qwen2.5-VL cookbook's own rendered text (tests/data/qwen_cookbook), character for
character, and our extensions as additions to it."""

from __future__ import annotations

import json
import re

import pytest
from PIL import Image

from actions.parsing import parse_action
from actions.space import BROWSER, COMPUTER, MOBILE, SPACES, tool_call_text
from agent.trajectory import StepRecord
from prompts.messages import ChatMessage, ImagePart, TextPart
from prompts.qwen import (
    PastStep,
    PromptInputs,
    build_messages,
    cookbook_tool,
    system_prompt,
    tool_definition,
)
from tests.support.paths import DATA

COOKBOOK = DATA / "qwen_cookbook"
# The cell printed "text " and then the chat; the model's answer follows the generation prompt.
MOBILE_CHAT = (COOKBOOK / "mobile_agent_cell_output.txt").read_text(encoding="utf-8").removeprefix("text ")
MOBILE_QUERY = "Open the file manager app and view the au_uu_SzH3yR2.mp3 file in MUSIC Folder"
MOBILE_ANSWER = '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "open", "text": "File Manager"}}\n</tool_call>'


def _turn(chat: str, role: str) -> str:
    """One turn's content in a rendered chat, images as Qwen2.5-VL's template writes them."""
    m = re.search(rf"<\|im_start\|>{role}\n(.*?)<\|im_end\|>", chat, re.DOTALL)
    assert m, f"no {role} turn"
    return m.group(1)


def _render(message: ChatMessage) -> str:
    return "".join(p.text if isinstance(p, TextPart) else "<|vision_start|><|image_pad|><|vision_end|>"
                   for p in message.parts)


def _step_with_answer(text: str, space=MOBILE) -> StepRecord:
    """A past step as the loop records it from the model's answer."""
    parsed = parse_action(text, space)
    return StepRecord(index=1, screenshot="", screen={"width": 1, "height": 1}, model_image=(1, 1), messages=[], attempts=[],
                      action=parsed.action.arguments(), call=parsed.call, executed=True)


def test_desktop_system_message_is_the_cookbooks() -> None:
    # 1920x1080 is shown to the model as 1932x1092 at the checkpoint's pixel budget.
    expected = (COOKBOOK / "computer_use_system_1932x1092.txt").read_text(encoding="utf-8")
    assert system_prompt(COMPUTER, 1932, 1092) == expected


def test_phone_chat_is_the_cookbooks() -> None:
    """The mobile cookbook's rendered chat for a 1080x2400 phone (1092x2408) with one step done: the system
    message, then the query, the task progress and the screenshot, exactly as Qwen rendered them."""
    history = [PastStep(_step_with_answer(MOBILE_ANSWER).progress_line())]
    messages = build_messages(PromptInputs(MOBILE, MOBILE_QUERY, Image.new("RGB", (1080, 2400)), (1092, 2408),
                                           history))
    assert [m.role for m in messages] == ["system", "user"]
    assert _render(messages[0]) == _turn(MOBILE_CHAT, "system")
    assert _render(messages[1]) == _turn(MOBILE_CHAT, "user")


def test_phone_first_step_states_an_empty_progress() -> None:
    (_, user) = build_messages(PromptInputs(MOBILE, "Turn on Wi-Fi", Image.new("RGB", (1080, 2400)), (1092, 2408)))
    assert _render(user) == ("The user query:  Turn on Wi-Fi\nTask progress (You have done the following operation "
                             "on the current device): <|vision_start|><|image_pad|><|vision_end|>")


def test_desktop_user_turn_is_the_raw_query_then_the_progress() -> None:
    shot = Image.new("RGB", (1920, 1080))
    (_, user) = build_messages(PromptInputs(COMPUTER, "open the third issue", shot, (1932, 1092)))
    assert user.parts == (TextPart("open the third issue"), ImagePart(shot))
    past = _step_with_answer('<tool_call>\n{"name": "computer_use", "arguments": {"action": "wait"}}\n</tool_call>',
                             COMPUTER)
    (_, user) = build_messages(PromptInputs(COMPUTER, "open the third issue", shot, (1932, 1092),
                                            [PastStep(past.progress_line())]))
    assert _render(user) == ('open the third issue\nTask progress (You have done the following operation on the '
                             'current device): Step 1: {"name": "computer_use", "arguments": {"action": "wait"}}; '
                             '<|vision_start|><|image_pad|><|vision_end|>')


def test_history_quotes_the_models_own_call() -> None:
    # No default filled in ("time": 1.0), the model's own order and numbers as it wrote them.
    step = _step_with_answer('<tool_call>\n{"name": "mobile_use", "arguments": {"time": 2, "action": "wait"}}'
                             '\n</tool_call>')
    assert step.action == {"action": "wait", "time": 2.0}
    assert step.progress_line() == '{"name": "mobile_use", "arguments": {"time": 2, "action": "wait"}}'
    step.error = "the phone was locked"
    assert step.progress_line().endswith("}} (failed: the phone was locked)")


@pytest.mark.parametrize("space", list(SPACES.values()), ids=list(SPACES))
def test_extensions_only_add_to_the_cookbook_text(space) -> None:
    """Whatever a space adds, every text of the cookbook's tool is still there, unchanged and first."""
    for extended in (space, space.with_answer()):
        ours = tool_definition(extended, 100, 100)["function"]["parameters"]["properties"]
        cookbook = cookbook_tool(space.tool_name)["parameters"]["properties"]
        assert list(ours)[: len(cookbook)] == list(cookbook)
        for name, prop in cookbook.items():
            assert ours[name]["description"].startswith(prop["description"])
            assert set(ours[name]) == set(prop)
            if "enum" in prop:
                assert ours[name]["enum"][: len(prop["enum"])] == prop["enum"]
        for tag in extended.tags:
            assert f"* `{tag}`:" in ours["action"]["description"]
        assert ours["action"]["enum"] == extended.tags


def test_answer_and_browser_actions_appear_only_where_needed() -> None:
    def tags(space) -> list[str]:
        return tool_definition(space, 10, 10)["function"]["parameters"]["properties"]["action"]["enum"]

    assert "answer" not in tags(COMPUTER) and "answer" not in tags(MOBILE)
    assert tags(MOBILE.with_answer())[-1] == "answer" and tags(COMPUTER.with_answer())[-1] == "answer"
    assert tags(BROWSER)[-3:] == ["navigate", "back", "forward"] and "navigate" not in tags(COMPUTER)
    browser = tool_definition(BROWSER, 10, 10)["function"]["parameters"]["properties"]
    assert browser["url"] == {"description": "The address to open. Required only by `action=navigate`.",
                              "type": "string"}
    mobile = tool_definition(MOBILE.with_answer(), 10, 10)["function"]["parameters"]["properties"]
    assert mobile["text"]["description"] == ("Required only by `action=key`, `action=type`, and `action=open`. "
                                             "Also used by `action=answer`: The answer to the user's question.")


def test_the_tool_sits_on_one_json_line() -> None:
    inner = re.search(r"<tools>\n(.*)\n</tools>", system_prompt(BROWSER, 56, 56), re.DOTALL)
    assert inner and "\n" not in inner.group(1)
    assert json.loads(inner.group(1))["function"]["name"] == "computer_use"


def test_history_policy_older_steps_as_text_recent_as_images() -> None:
    shots = [Image.new("RGB", (50, 50), (i, 0, 0)) for i in range(4)]
    history = [PastStep(f'{{"action": "wait", "n": {i}}}', shots[i], f"<tool_call>{i}</tool_call>") for i in range(3)]
    msgs = build_messages(
        PromptInputs(MOBILE, "t", shots[3], (56, 56), history, history_images=2, notes=("nothing changed",))
    )
    # Steps 1-2 as progress text; step 3 as a (screenshot, answer) pair; then the current screenshot.
    assert [m.role for m in msgs] == ["system", "user", "assistant", "user"]
    first = msgs[1].parts[0].text
    assert first.endswith('Step 1: {"action": "wait", "n": 0}; Step 2: {"action": "wait", "n": 1}; ')
    assert msgs[1].images == [shots[2]]
    assert msgs[2].parts[0].text == "<tool_call>2</tool_call>"
    assert msgs[3].images == [shots[3]]
    assert msgs[3].parts[0].text == "\nNote: nothing changed\n"


def test_notes_follow_the_query_one_line_each() -> None:
    shot = Image.new("RGB", (56, 56))
    (_, user) = build_messages(PromptInputs(COMPUTER, "save the file", shot, (56, 56),
                                            notes=("the screen did not change after your last action", "x")))
    assert _render(user) == ("save the file\nNote: the screen did not change after your last action\nNote: x\n"
                             "<|vision_start|><|image_pad|><|vision_end|>")


def test_extra_instructions_insertion_point() -> None:
    prompt = system_prompt(COMPUTER, 10, 10, "\n\nNever close the window.")
    assert prompt.startswith("You are a helpful assistant.\n\nNever close the window.\n\n# Tools")


def test_scripted_answers_are_written_as_qwen_wrote_its_own() -> None:
    # The model's answer in the cookbook's cell, after the generation prompt: our one writer of tool calls
    # (oracle and noop agents, benchmarks) must produce that text for the same call.
    written_by_qwen = MOBILE_CHAT.rsplit("<|im_start|>assistant\n", 1)[1].strip()
    call = json.loads(written_by_qwen.removeprefix("<tool_call>").removesuffix("</tool_call>"))
    assert tool_call_text(call["name"], call["arguments"]) == written_by_qwen
    assert parse_action(written_by_qwen, MOBILE).action.arguments() == call["arguments"]
