"""The local backend on the tiny checkpoint: constrained output, image sizes, determinism, loading errors."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from actions.geometry import CHECKPOINT_MIN_PIXELS, ImageBudget, smart_resize
from actions.parsing import ParseError, parse_action
from actions.space import SPACES, ActionSpace
from agent.models.base import GenerationRequest, ModelBackend, ModelError
from agent.models.factory import create_backend
from actions.space import TOOL_CALL_CLOSE, TOOL_CALL_OPEN
from agent.models.grammar import split_tool_call
from agent.models.replay import ReplayBackend
from agent.models.settings import ModelSettings
from agent.models.transformers_backend import TransformersBackend
from prompts.messages import ChatMessage, ImagePart, TextPart
from tests.support.requests import MAX_PIXELS, request_for, screenshot
from tests.support.tiny_model import reseed_weights

# Small pictures and a small pixel budget keep the vision tower cheap on a shared CPU.
# Enough for the longest valid call under the tokenizer the tiny model has (strings are bounded).
MAX_NEW_TOKENS = 700
SCREENS = [(200, 120), (120, 200), (160, 90), (300, 60), (40, 40), (420, 260)]


def assert_valid_call(text: str, space: ActionSpace, image_size: tuple[int, int], thought: bool = False) -> None:
    before, inner = split_tool_call(text)
    assert text.endswith(TOOL_CALL_CLOSE), text
    if not thought:
        assert before == "", text
    # The project's own parser reads it, as the agent loop does, with no repair needed.
    parsed = parse_action(text, space)
    assert not parsed.notes, parsed.notes
    action = parsed.action
    width, height = image_size
    for x, y in action.points():
        assert 0 <= x < width and 0 <= y < height, (action, image_size)
    # Compact JSON: outside strings, the only whitespace is json.dumps' one space after ',' and ':'.
    skeleton = re.sub(r'"(?:[^"\\]|\\.)*"', '""', inner)
    assert not re.search(r"\s", re.sub(r"[,:] ", "", skeleton)), inner


@pytest.fixture(scope="module")
def backend(tiny_model_dir: Path) -> Iterator[TransformersBackend]:
    loaded = TransformersBackend(
        ModelSettings(model=str(tiny_model_dir), max_pixels=MAX_PIXELS, max_new_tokens=MAX_NEW_TOKENS)
    )
    yield loaded
    loaded.close()


# Constrained decoding.


@pytest.mark.timeout(900)  # many generations on the CPU: over 300 s on a loaded 2-core machine
@pytest.mark.parametrize("space_name", sorted(SPACES))
def test_constrained_output_is_a_valid_action_over_seeds_and_screens(tiny_model_dir: Path, space_name: str) -> None:
    space = SPACES[space_name]
    # Its own copy: the weights are redrawn for every seed, standing for many different checkpoints.
    backend = TransformersBackend(
        ModelSettings(model=str(tiny_model_dir), max_pixels=MAX_PIXELS, max_new_tokens=MAX_NEW_TOKENS)
    )
    seen = set()
    try:
        for seed in range(12):
            reseed_weights(backend.model, seed)
            width, height = SCREENS[seed % len(SCREENS)]
            request = request_for(backend, space, screenshot(width, height, seed), f"Task number {seed}.")
            generation = backend.generate(request)
            assert generation.new_tokens is not None and generation.new_tokens < MAX_NEW_TOKENS
            assert generation.finish == "end_of_turn"
            assert_valid_call(generation.text, space, request.image_size)
            seen.add(parse_action(generation.text, space).action.action)
    finally:
        backend.close()
    # Different weights choose different actions: the grammar offers the whole space, not one path.
    assert len(seen) >= 3, seen


def test_free_text_before_the_call_when_thoughts_are_allowed(tiny_model_dir: Path) -> None:
    settings = ModelSettings(
        model=str(tiny_model_dir), max_pixels=MAX_PIXELS, max_new_tokens=MAX_NEW_TOKENS, allow_thought=True,
        max_thought_tokens=12,
    )
    backend = TransformersBackend(settings)
    try:
        texts = []
        for seed in range(3):
            reseed_weights(backend.model, 100 + seed)
            request = request_for(backend, SPACES["mobile"], screenshot(200, 120, seed), "Think, then act.")
            generation = backend.generate(request)
            assert_valid_call(generation.text, SPACES["mobile"], request.image_size, thought=True)
            texts.append(split_tool_call(generation.text)[0])
        # Random weights rarely open the call by themselves: the thought budget is what ends the text.
        assert any(texts), texts
    finally:
        backend.close()


def test_grammar_accepts_compact_calls_and_rejects_the_rest(backend: TransformersBackend) -> None:
    assert backend.grammars is not None
    mobile = SPACES["mobile"]

    def accepts(text: str, thought: int | None = None) -> bool:
        matcher = backend.grammars.matcher(mobile, 196, 112, thought)
        return matcher.accept_string(text) and matcher.accept_token(backend.stop_token_ids[0])

    call = '{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [195, 111]}}'
    assert accepts(TOOL_CALL_OPEN + call + TOOL_CALL_CLOSE)
    assert accepts("I should tap it." + TOOL_CALL_OPEN + call + TOOL_CALL_CLOSE, thought=32)
    assert not accepts("I should tap it." + TOOL_CALL_OPEN + call + TOOL_CALL_CLOSE)
    assert not accepts(TOOL_CALL_OPEN + call.replace('"coordinate": ', '"coordinate":  ') + TOOL_CALL_CLOSE)
    assert not accepts(TOOL_CALL_OPEN + call.replace("{", "{ ", 1) + TOOL_CALL_CLOSE)
    assert not accepts(TOOL_CALL_OPEN + call.replace("195", "196") + TOOL_CALL_CLOSE)  # x off the image
    assert not accepts(TOOL_CALL_OPEN + call.replace("mobile_use", "computer_use") + TOOL_CALL_CLOSE)
    typed = '{"name": "mobile_use", "arguments": {"action": "type", "text": "%s"}}'
    assert accepts(TOOL_CALL_OPEN + typed % "Grüße 😀" + TOOL_CALL_CLOSE)
    assert not accepts(TOOL_CALL_OPEN + typed % "tab\there" + TOOL_CALL_CLOSE)  # raw control characters
    assert not accepts(TOOL_CALL_OPEN + typed % ("x" * 501) + TOOL_CALL_CLOSE)
    # Strings are JSON strings: escapes allowed (each counts as one character), raw control characters not.
    assert accepts(TOOL_CALL_OPEN + typed % r"say \"hi\" C:\\temp" + TOOL_CALL_CLOSE)
    assert accepts(TOOL_CALL_OPEN + typed % r"\u00e9 \ud83d\ude00 \/\b\f\n\r\t" + TOOL_CALL_CLOSE)
    assert accepts(TOOL_CALL_OPEN + typed % ("x" * 500) + TOOL_CALL_CLOSE)
    assert accepts(TOOL_CALL_OPEN + typed % (r"\"" * 500) + TOOL_CALL_CLOSE)
    assert not accepts(TOOL_CALL_OPEN + typed % (r"\"" * 501) + TOOL_CALL_CLOSE)
    assert not accepts(TOOL_CALL_OPEN + typed % "line\nbreak" + TOOL_CALL_CLOSE)
    assert not accepts(TOOL_CALL_OPEN + typed % 'say "hi"' + TOOL_CALL_CLOSE)  # an unescaped quote ends the string
    assert not accepts(TOOL_CALL_OPEN + typed % r"C:\Users" + TOOL_CALL_CLOSE)  # \U is no escape
    assert not accepts(TOOL_CALL_OPEN + typed % r"\u00g9" + TOOL_CALL_CLOSE)
    assert not accepts(TOOL_CALL_OPEN + typed % r"\ud83d" + TOOL_CALL_CLOSE)  # a lone surrogate
    keyed = '{"name": "computer_use", "arguments": {"action": "key", "keys": [%s]}}'
    computer = backend.grammars.matcher(SPACES["computer"], 196, 112)
    assert computer.accept_string(TOOL_CALL_OPEN + keyed % r'"ctrl", "\\"' + TOOL_CALL_CLOSE)
    computer = backend.grammars.matcher(SPACES["computer"], 196, 112)
    assert not computer.accept_string(TOOL_CALL_OPEN + keyed % ('"%s"' % ("k" * 41)) + TOOL_CALL_CLOSE)
    waited = '{"name": "mobile_use", "arguments": {"action": "wait", "time": %s}}'
    assert accepts(TOOL_CALL_OPEN + waited % "2.5" + TOOL_CALL_CLOSE)
    assert not accepts(TOOL_CALL_OPEN + waited % "61" + TOOL_CALL_CLOSE)
    # Compiled once per (space, size).
    assert backend.grammars.compiled(mobile, 196, 112) is backend.grammars.compiled(mobile, 196, 112)


def test_constrained_generation_types_escapes_that_parse_back(backend: TransformersBackend) -> None:
    import torch

    from agent.models.token_chooser import TokenChooser

    assert backend.grammars is not None
    space = SPACES["computer"]
    request = request_for(backend, space, screenshot(200, 120, 5), "Type it.")
    typed = r"say \"hi\" in C:\\temp\n\u00e9\t\ud83d\ude00 \/"
    answer = TOOL_CALL_OPEN + f'{{"name": "computer_use", "arguments": {{"action": "type", "text": "{typed}"}}}}'
    target = backend.tokenizer.encode(answer + TOOL_CALL_CLOSE, add_special_tokens=False)
    # A model that wants exactly the target, then to stop: each token passes the grammar's mask or is refused.
    chooser = TokenChooser(backend.stop_token_ids, backend.grammar(request))
    vocab = backend.model.config.text_config.vocab_size
    new_ids: list[int] = []
    for wanted in [*target, backend.stop_token_ids[0]]:
        logits = torch.zeros(vocab)
        logits[wanted] = 1e4
        new_ids.append(chooser.choose(logits))
    # Every token the model wanted was allowed, and the call ended right after them.
    assert new_ids == [*target, backend.stop_token_ids[0]], backend.tokenizer.decode(new_ids)
    text = backend.tokenizer.decode(new_ids, skip_special_tokens=True)
    assert_valid_call(text, space, request.image_size)
    action = parse_action(text, space).action
    assert action.action == "type" and action.text == 'say "hi" in C:\\temp\n\u00e9\t\U0001f600 /'


def test_no_token_with_a_raw_control_character_is_allowed_inside_a_string(backend: TransformersBackend) -> None:
    import xgrammar as xgr
    from xgrammar.testing import bitmask_to_bool_mask

    assert backend.grammars is not None
    vocab_size = backend.grammars.tokenizer_info.vocab_size
    matcher = backend.grammars.matcher(SPACES["computer"], 196, 112)
    assert matcher.accept_string(
        TOOL_CALL_OPEN + '{"name": "computer_use", "arguments": {"action": "type", "text": "ab'
    )
    bitmask = xgr.allocate_token_bitmask(1, vocab_size)
    matcher.fill_next_token_bitmask(bitmask)
    allowed = bitmask_to_bool_mask(bitmask, vocab_size)[0].nonzero().flatten().tolist()
    texts = {i: backend.tokenizer.decode([i]) for i in allowed if i < len(backend.tokenizer)}
    assert any("\\" in t for t in texts.values()) and any('"' in t for t in texts.values())
    controls = {i: t for i, t in texts.items() if re.search(r"[\x00-\x1f]", t)}
    assert not controls, controls


def test_unconstrained_generation_stops_at_the_token_limit(tiny_model_dir: Path) -> None:
    settings = ModelSettings(model=str(tiny_model_dir), max_pixels=MAX_PIXELS, max_new_tokens=5, constrained=False)
    backend = TransformersBackend(settings)
    try:
        assert backend.grammars is None
        generation = backend.generate(request_for(backend, SPACES["computer"], screenshot(80, 60, 0), "Go."))
        assert 1 <= (generation.new_tokens or 0) <= 5
    finally:
        backend.close()


@pytest.mark.parametrize("engine", ["fast", "generate"])
def test_an_answer_cut_at_the_token_limit_says_so(tiny_model_dir: Path, engine: str) -> None:
    # Constrained decoding opens a call it has no room to finish: the backend reports the cut, and the cut text
    # is no action.
    settings = ModelSettings(model=str(tiny_model_dir), max_pixels=MAX_PIXELS, max_new_tokens=12, engine=engine)
    backend = TransformersBackend(settings)
    try:
        space = SPACES["mobile"]
        generation = backend.generate(request_for(backend, space, screenshot(80, 60, 0), "Go."))
        assert generation.finish == "length" and generation.new_tokens == 12, generation
        assert generation.text.startswith(TOOL_CALL_OPEN) and TOOL_CALL_CLOSE not in generation.text
        with pytest.raises(ParseError, match="cut off"):
            parse_action(generation.text, space)
    finally:
        backend.close()


# Decoding, images and timings.


def test_greedy_is_deterministic_and_plain_argmax(backend: TransformersBackend) -> None:
    import torch

    request = request_for(backend, SPACES["computer"], screenshot(200, 120, 7), "Click the button.")
    first = backend.generate(request)
    second = backend.generate(request)
    assert first.text == second.text and first.new_tokens == second.new_tokens
    # The checkpoint's generation_config says do_sample with a repetition penalty; greedy must ignore it.
    prepared = backend.prepare(request.messages)
    new_ids, _ = backend.run(prepared, None, max_new_tokens=1)
    with torch.inference_mode():
        logits = backend.model(**prepared.inputs).logits[0, -1]
    assert new_ids == [int(logits.argmax())]


def test_image_sizes_are_what_smart_resize_gives(backend: TransformersBackend) -> None:
    images = [screenshot(w, h, i) for i, (w, h) in enumerate(SCREENS[:4])]
    messages = [
        ChatMessage.text("system", "tools"),
        ChatMessage("user", (TextPart("before"), ImagePart(images[0]), ImagePart(images[1]))),
        ChatMessage.text("assistant", "<tool_call>\n{}\n</tool_call>"),
        ChatMessage("user", (ImagePart(images[2]), TextPart("now"), ImagePart(images[3].convert("RGBA")))),
    ]
    last = images[3].size
    request = GenerationRequest(messages, SPACES["browser"], backend.image_budget.resized_size(*last))
    generation = backend.generate(request)
    expected = []
    for image in images:
        h, w = smart_resize(image.height, image.width, min_pixels=CHECKPOINT_MIN_PIXELS, max_pixels=MAX_PIXELS)
        expected.append((w, h))
    assert generation.image_sizes == expected
    assert generation.image_sizes == [backend.image_budget.resized_size(*i.size) for i in images]
    assert_valid_call(generation.text, SPACES["browser"], request.image_size)


def test_image_budget_follows_settings_and_checkpoint(tiny_model_dir: Path, backend: TransformersBackend) -> None:
    assert backend.image_budget == ImageBudget(min_pixels=CHECKPOINT_MIN_PIXELS, max_pixels=MAX_PIXELS)
    assert backend.processor.image_processor.size["longest_edge"] == MAX_PIXELS
    with pytest.raises(ModelError, match="min_pixels"):
        TransformersBackend(ModelSettings(model=str(tiny_model_dir), max_pixels=1000))


def test_timings_are_reported_per_stage(backend: TransformersBackend) -> None:
    generation = backend.generate(request_for(backend, SPACES["mobile"], screenshot(120, 200, 3), "Tap."))
    timings = backend.last_timings
    assert timings is not None
    assert generation.preprocess_s == timings.preprocess_s > 0
    assert generation.generate_s == pytest.approx(timings.prefill_s + timings.decode_s)
    assert 0 < timings.vision_s <= timings.prefill_s
    assert generation.prompt_tokens == timings.prompt_tokens and generation.prompt_tokens > 0
    assert generation.new_tokens == timings.new_tokens > 0


# Loading.


def test_a_missing_hub_model_is_one_line_naming_the_fetch_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as caught:
        create_backend(ModelSettings(model="qwen-gui-agent-tests/absent-model"))
    message = str(caught.value)
    assert "\n" not in message
    assert "`hf download qwen-gui-agent-tests/absent-model`" in message


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        TransformersBackend(ModelSettings(model=str(tmp_path / "nowhere")))


def test_a_checkpoint_of_another_kind_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ModelError, match="llama checkpoint, not Qwen2.5-VL"):
        TransformersBackend(ModelSettings(model=str(tmp_path)))
    (tmp_path / "config.json").unlink()
    with pytest.raises(ModelError, match="no config.json"):
        TransformersBackend(ModelSettings(model=str(tmp_path)))


def test_a_tokenizer_without_vision_tokens_is_refused(tmp_path: Path, tiny_model_dir: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    tokenizer = json.loads((broken / "tokenizer.json").read_text())
    tokenizer["added_tokens"] = [t for t in tokenizer["added_tokens"] if t["content"] != "<|image_pad|>"]
    (broken / "tokenizer.json").write_text(json.dumps(tokenizer))
    with pytest.raises(ModelError, match=re.escape("lacks Qwen2.5-VL's vision tokens <|image_pad|>")):
        TransformersBackend(ModelSettings(model=str(broken)))


# The replay backend.


def test_replay_answers_in_order_then_fails_clearly() -> None:
    budget = ImageBudget(max_pixels=MAX_PIXELS)
    replay = ReplayBackend(["first", "second"], budget)
    assert isinstance(replay, ModelBackend)
    image = screenshot(420, 260, 0)
    request = request_for(replay, SPACES["mobile"], image, "Go.")
    assert replay.generate(request).text == "first"
    generation = replay.generate(request)
    assert generation.text == "second"
    assert generation.image_sizes == [budget.resized_size(420, 260)] == [(smart_resize(260, 420, max_pixels=MAX_PIXELS)[::-1])]
    with pytest.raises(ModelError, match="all 2 of its texts"):
        replay.generate(request)
    # A recording's finishes are replayed with its texts, one each.
    assert ReplayBackend(["cut"], budget, finishes=["length"]).generate(request).finish == "length"
    with pytest.raises(ValueError, match="one per text"):
        ReplayBackend(["a", "b"], budget, finishes=["length"])


def test_settings_refuse_impossible_combinations() -> None:
    with pytest.raises(ValueError, match="min_pixels"):
        ModelSettings(min_pixels=5000, max_pixels=4000)
    with pytest.raises(ValueError, match="max_thought_tokens"):
        ModelSettings(allow_thought=True, max_thought_tokens=300, max_new_tokens=256)
    with pytest.raises(ModelError, match="http"):
        create_backend(ModelSettings(base_url="localhost:8000/v1"))
