"""The system and user turns in Qwen2.5-VL's function-call format."""

from __future__ import annotations

import json
import re

from PIL import Image

from actions.space import BROWSER, COMPUTER, MOBILE, SPACES
from prompts.messages import ImagePart, TextPart
from prompts.qwen import PastStep, PromptInputs, build_messages, system_prompt, tool_definition


def _tools_json(prompt: str) -> dict:
    inner = re.search(r"<tools>\n(.*)\n</tools>", prompt, re.DOTALL)
    assert inner, "the tool definition must sit on its own line inside <tools></tools>"
    line = inner.group(1)
    assert "\n" not in line, "one JSON line per tool, as the Nous template writes it"
    return json.loads(line)


def test_system_prompt_has_the_trained_shape() -> None:
    prompt = system_prompt(MOBILE, 1092, 2408)
    assert prompt.startswith("You are a helpful assistant.\n\n# Tools\n")
    assert prompt.endswith('<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>')
    tool = _tools_json(prompt)
    assert tool["type"] == "function"
    fn = tool["function"]
    assert fn["name"] == fn["name_for_human"] == "mobile_use"
    assert "The screen's resolution is 1092x2408." in fn["description"]
    assert fn["parameters"]["required"] == ["action"]
    assert fn["args_format"] == "Format the arguments as a JSON object."


def test_argument_names_match_the_cookbook_tools() -> None:
    mobile = tool_definition(MOBILE, 100, 100)["function"]["parameters"]["properties"]
    assert set(mobile) == {"action", "coordinate", "coordinate2", "text", "time", "button", "status"}
    assert mobile["action"]["enum"] == ["key", "click", "long_press", "swipe", "type", "system_button", "open",
                                        "wait", "terminate", "answer"]
    assert mobile["button"]["enum"] == ["Back", "Home", "Menu", "Enter"]
    computer = tool_definition(COMPUTER, 100, 100)["function"]["parameters"]["properties"]
    assert {"action", "keys", "text", "coordinate", "pixels", "time", "status"} <= set(computer)
    assert computer["action"]["enum"][:11] == ["key", "type", "mouse_move", "left_click", "left_click_drag",
                                              "right_click", "middle_click", "double_click", "scroll", "wait",
                                              "terminate"]
    assert tool_definition(BROWSER, 100, 100)["function"]["name"] == "computer_use"


def test_every_action_is_described() -> None:
    for space in SPACES.values():
        props = tool_definition(space, 10, 10)["function"]["parameters"]["properties"]
        for tag in space.tags:
            assert f"* `{tag}`:" in props["action"]["description"]


def test_user_turn_with_progress_and_screenshot() -> None:
    shot = Image.new("RGB", (1080, 2400))
    msgs = build_messages(PromptInputs(MOBILE, "Turn on Wi-Fi", shot, (1092, 2408)))
    assert [m.role for m in msgs] == ["system", "user"]
    text, image = msgs[1].parts
    assert isinstance(text, TextPart) and isinstance(image, ImagePart)
    assert text.text == ("The user query: Turn on Wi-Fi\n"
                         "Task progress (You have done the following operation on the current device): None.\n")
    assert image.image is shot


def test_history_policy_older_steps_as_text_recent_as_images() -> None:
    shots = [Image.new("RGB", (50, 50), (i, 0, 0)) for i in range(4)]
    history = [PastStep(f'{{"action": "wait", "n": {i}}}', shots[i], f"<tool_call>{i}</tool_call>") for i in range(3)]
    msgs = build_messages(
        PromptInputs(MOBILE, "t", shots[3], (56, 56), history, history_images=2, feedback="nothing changed")
    )
    # Steps 1-2 as progress text; step 3 as a (screenshot, answer) pair; then the current screenshot.
    assert [m.role for m in msgs] == ["system", "user", "assistant", "user"]
    first = msgs[1].parts[0].text
    assert 'Step 1: {"action": "wait", "n": 0}; Step 2: {"action": "wait", "n": 1};' in first
    assert msgs[1].images == [shots[2]]
    assert msgs[2].parts[0].text == "<tool_call>2</tool_call>"
    assert msgs[3].images == [shots[3]]
    assert "Note: nothing changed" in msgs[3].parts[0].text


def test_extra_instructions_insertion_point() -> None:
    prompt = system_prompt(COMPUTER, 10, 10, "\n\nNever close the window.")
    assert prompt.startswith("You are a helpful assistant.\n\nNever close the window.\n\n# Tools")
