"""The tiny checkpoint is a real Qwen2.5-VL checkpoint in the released layout, and loads like one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actions.geometry import CHECKPOINT_MAX_PIXELS, CHECKPOINT_MIN_PIXELS, ImageBudget
from agent.models.factory import create_backend
from agent.models.settings import ModelSettings
from agent.models.tiny import QWEN_ADDED_TOKENS
from agent.models.transformers_backend import TransformersBackend


def test_directory_has_the_released_layout(tiny_model_dir: Path) -> None:
    names = {p.name for p in tiny_model_dir.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "preprocessor_config.json"} <= names
    assert {"tokenizer.json", "tokenizer_config.json", "chat_template.json"} <= names
    # The released repositories have no processor_config.json: the processor must assemble itself.
    assert "processor_config.json" not in names
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["model_type"] == "qwen2_5_vl"
    assert config["architectures"] == ["Qwen2_5_VLForConditionalGeneration"]
    # The released config.json is flat, with the rotary sections under rope_scaling.
    assert "text_config" not in config and config["num_hidden_layers"] == 2
    assert config["rope_scaling"] == {"type": "mrope", "mrope_section": [2, 3, 3]}
    preprocessor = json.loads((tiny_model_dir / "preprocessor_config.json").read_text())
    assert (preprocessor["min_pixels"], preprocessor["max_pixels"]) == (3136, 12845056)


def test_tokenizer_carries_qwen_tokens_with_the_config_ids(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    config = json.loads((tiny_model_dir / "config.json").read_text())
    vocab = tokenizer.get_vocab()
    for token, _ in QWEN_ADDED_TOKENS:
        assert token in vocab, token
    assert vocab["<|image_pad|>"] == config["image_token_id"]
    assert vocab["<|video_pad|>"] == config["video_token_id"]
    assert vocab["<|vision_start|>"] == config["vision_start_token_id"]
    assert vocab["<|vision_end|>"] == config["vision_end_token_id"]
    assert len(tokenizer) <= config["vocab_size"]
    # The tool-call tags are single tokens that survive decoding, as in the released tokenizer.
    ids = tokenizer.encode("<tool_call>\n{}\n</tool_call>")
    assert ids[0] == vocab["<tool_call>"] and ids[-1] == vocab["</tool_call>"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "<tool_call>\n{}\n</tool_call>"
    # Byte-level: any text round-trips.
    text = "Tippe 'Grüße' ein, 打开设置 😀"
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_chat_template_renders_like_qwen2_5_vl(tiny_model_dir: Path) -> None:
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    without_system = [{"role": "user", "content": [{"type": "text", "text": "Open it."}, {"type": "image"}]}]
    assert processor.apply_chat_template(without_system, add_generation_prompt=True, tokenize=False) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nOpen it.<|vision_start|><|image_pad|><|vision_end|><|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    conversation = [
        {"role": "system", "content": "Tools here."},
        {"role": "user", "content": [{"type": "text", "text": "Go."}]},
        {"role": "assistant", "content": "<tool_call>\n{}\n</tool_call>"},
    ]
    assert processor.apply_chat_template(conversation, tokenize=False) == (
        "<|im_start|>system\nTools here.<|im_end|>\n"
        "<|im_start|>user\nGo.<|im_end|>\n"
        "<|im_start|>assistant\n<tool_call>\n{}\n</tool_call><|im_end|>\n"
    )


def test_loads_through_the_same_path_as_real_weights(tiny_model_dir: Path) -> None:
    backend = create_backend(ModelSettings(model=str(tiny_model_dir)))
    try:
        assert isinstance(backend, TransformersBackend)
        assert type(backend.model).__name__ == "Qwen2_5_VLForConditionalGeneration"
        assert type(backend.processor).__name__ == "Qwen2_5_VLProcessor"
        # The checkpoint's own preprocessor limits, not transformers' class defaults.
        assert backend.image_budget == ImageBudget(CHECKPOINT_MIN_PIXELS, CHECKPOINT_MAX_PIXELS)
        assert backend.device == "cpu" and str(backend.dtype) == "torch.float32"
        assert backend.model.config.text_config.num_hidden_layers == 2
        assert backend.model.config.vision_config.depth == 2
        assert backend.model.config.text_config.rope_parameters["mrope_section"] == [2, 3, 3]
    finally:
        backend.close()


def test_seed_picks_the_weights(tmp_path: Path, tiny_model_dir: Path) -> None:
    from safetensors.torch import load_file

    from agent.models.tiny import make_tiny_model

    other = load_file(make_tiny_model(tmp_path / "seed1", seed=1) / "model.safetensors")
    base = load_file(tiny_model_dir / "model.safetensors")
    assert other.keys() == base.keys()
    name = next(k for k in base if k.endswith("q_proj.weight"))
    assert not (other[name] == base[name]).all()


@pytest.mark.timeout(900)  # 276 s at a load average of 13 on 2 cores
def test_its_random_answers_are_mostly_clicks_spread_over_the_screen(tiny_model_dir: Path) -> None:
    # A tiny run should show clicks, drags and typing on the screen, not junk addresses or an early end.
    import numpy as np
    from PIL import Image

    from actions.parsing import parse_action
    from actions.space import SPACES
    from agent.models.base import GenerationRequest
    from prompts.qwen import PromptInputs, build_messages

    backend = TransformersBackend(ModelSettings(model=str(tiny_model_dir), max_pixels=28 * 28 * 60,
                                                max_new_tokens=300))
    try:
        for space_name, click, screens in (("browser", "left_click", [(1280, 800), (800, 600)]),
                                           ("mobile", "click", [(412, 915), (1080, 2400)])):
            space, kinds, points = SPACES[space_name], [], set()
            for seed in range(12):
                width, height = screens[seed % 2]
                rng = np.random.default_rng(seed)
                image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
                size = backend.image_budget.resized_size(width, height)
                messages = build_messages(PromptInputs(space, f"Task {seed}: book a flight to Paris", image, size))
                action = parse_action(backend.generate(GenerationRequest(messages, space, size)).text, space).action
                kinds.append(action.action)
                points.update(action.points())
            assert kinds.count(click) >= len(kinds) / 3, kinds
            assert len(set(kinds)) >= 2 and "terminate" not in kinds and "navigate" not in kinds, kinds
            assert len(points) >= 4, points
    finally:
        backend.close()
