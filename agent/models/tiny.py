"""A tiny Qwen2.5-VL checkpoint with random weights, for tests and for trying the pipeline without a download.

`make_tiny_model(directory)` writes a complete checkpoint directory laid out like the released ones
(config.json, generation_config.json, model.safetensors, tokenizer files, preprocessor_config.json,
chat template) so it loads through exactly the code path real weights take. The architecture is the
real one with a few small layers; the tokenizer is a byte-level BPE trained here on a small built-in
corpus and carries Qwen's special tokens. The model's answers are noise: constrained decoding is what
keeps them valid actions.
"""

from __future__ import annotations

import json
from pathlib import Path

from loguru import logger

from actions.geometry import CHECKPOINT_MAX_PIXELS, CHECKPOINT_MIN_PIXELS
from actions.space import SPACES
from agent.models.archs import ARCHS, CONFIG_TOKENS, qwen_config
from prompts.qwen import cookbook_tool

SPACE_TAGS = sorted({tag for space in SPACES.values() for tag in space.tags})

# Qwen2.5's special tokens, in the order the released vocabulary appends them after the BPE tokens.
# `special` mirrors the released tokenizer: tool-call and FIM markers are ordinary added tokens, so they
# decode as text and a grammar can match them.
QWEN_ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
)

# The BPE part of the vocabulary; small so the embedding and xgrammar's token tables stay tiny.
BPE_VOCAB_SIZE = 1024

# Written for this project; renders messages the way Qwen2.5-VL's template does: a default system turn,
# `<|im_start|>role\n...<|im_end|>\n` per message, vision placeholders for images and videos, optional
# "Picture N: " labels, and the assistant header as the generation prompt.
CHAT_TEMPLATE = (
    "{%- set counts = namespace(image=0, video=0) -%}"
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}"
    "{{- message['content'] -}}"
    "{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' or 'image' in part or 'image_url' in part -%}"
    "{%- set counts.image = counts.image + 1 -%}"
    "{%- if add_vision_id -%}{{- 'Picture ' + counts.image | string + ': ' -}}{%- endif -%}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif part['type'] == 'video' or 'video' in part -%}"
    "{%- set counts.video = counts.video + 1 -%}"
    "{%- if add_vision_id -%}{{- 'Video ' + counts.video | string + ': ' -}}{%- endif -%}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' -}}"
    "{%- elif 'text' in part -%}"
    "{{- part['text'] -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

# The released checkpoints' image preprocessing (CLIP mean and std, 14-pixel patches merged 2x2).
PREPROCESSOR_CONFIG = {
    "min_pixels": CHECKPOINT_MIN_PIXELS,
    "max_pixels": CHECKPOINT_MAX_PIXELS,
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "Qwen2VLImageProcessor",
    "processor_class": "Qwen2_5_VLProcessor",
}


def _training_corpus() -> list[str]:
    """Text the BPE merges are learned from: the tool schemas, the prompt's phrases, digits, plain words."""
    lines = [
        "You are a helpful assistant.",
        "# Tools\n\nYou may call one or more functions to assist with the user query.",
        "You are provided with function signatures within <tools></tools> XML tags:",
        ("For each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:"),
        ("The screen's resolution is 1092x2408. Task progress (You have done the following operation on the "
        "current device): Step 1: click. Step 2: type."),
        "Open the settings app, turn on wifi, search the web, send a message, click the button in the centre.",
        " ".join(str(n) for n in range(0, 2000, 7)),
    ]
    for space in SPACES.values():
        lines.append(cookbook_tool(space.tool_name)["description"])
        lines.append(json.dumps(space.call_schema(1092, 2408)))
        for tag in space.tags:
            lines.append(json.dumps({"name": space.tool_name, "arguments": {"action": tag, "coordinate": [540, 1200]}}))
    return lines * 4


def _build_tokenizer():  # -> transformers.PreTrainedTokenizerBase
    """A byte-level BPE with Qwen2's normaliser, pre-tokeniser and decoder, trained on the built-in corpus."""
    from tokenizers import AddedToken, Tokenizer, trainers
    from tokenizers.models import BPE
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import Qwen2Tokenizer

    # Take the text pipeline from transformers' own Qwen2 tokenizer class so ours splits text the same way,
    # but a fresh model: the class's placeholder vocabulary must not leak into the trained one.
    reference = Qwen2Tokenizer().backend_tokenizer
    pipeline = Tokenizer(BPE())
    pipeline.normalizer = reference.normalizer
    pipeline.pre_tokenizer = reference.pre_tokenizer
    pipeline.decoder = reference.decoder

    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB_SIZE,
        min_frequency=2,
        initial_alphabet=ByteLevel.alphabet(),
        show_progress=False,
        special_tokens=[],
    )
    pipeline.train_from_iterator(_training_corpus(), trainer=trainer)
    vocab = pipeline.get_vocab()
    merges = json.loads(pipeline.to_str())["model"]["merges"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]

    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges, model_max_length=32768, errors="replace")
    tokenizer.add_tokens([AddedToken(t, special=s, normalized=False) for t, s in QWEN_ADDED_TOKENS])
    tokenizer.add_special_tokens(
        {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}, replace_extra_special_tokens=False
    )
    return tokenizer


def make_tiny_model(directory: str | Path, seed: int = 0) -> Path:
    """Write a tiny random-weight Qwen2.5-VL checkpoint into `directory` and return its path.

    `seed` picks the random weights (the tokenizer does not depend on it). The directory loads with
    `TransformersBackend(ModelSettings(model=str(directory)))`, like a downloaded checkpoint.
    """
    import torch
    from transformers import (
        AutoTokenizer,
        GenerationConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=CHECKPOINT_MIN_PIXELS, max_pixels=CHECKPOINT_MAX_PIXELS),
        tokenizer=_build_tokenizer(),
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(directory)
    _write_released_layout(directory)
    # Token ids come from the tokenizer as it loads back, so config and tokenizer cannot disagree.
    tokenizer = AutoTokenizer.from_pretrained(directory)
    # Round the embedding table up like the released checkpoints pad theirs (152064 > 151665 tokens).
    vocab_size = -(-len(tokenizer) // 64) * 64
    config = qwen_config(ARCHS["tiny"], {t: tokenizer.convert_tokens_to_ids(t) for t in CONFIG_TOKENS}, vocab_size)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(config).eval()
    end_ids = [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    model.generation_config = GenerationConfig(
        # The released generation_config.json samples with top_k=1 and a repetition penalty; the backend must
        # override both to decode greedily, and this checkpoint lets tests see that it does.
        bos_token_id=config.text_config.bos_token_id,
        eos_token_id=end_ids,
        pad_token_id=end_ids[1],
        do_sample=True,
        temperature=0.1,
        top_p=0.001,
        top_k=1,
        repetition_penalty=1.05,
    )
    _lean_towards_clicks(model, tokenizer, seed)
    model.save_pretrained(directory)
    _write_released_config(directory)
    _write_model_card(directory, seed)
    logger.debug("wrote tiny Qwen2.5-VL checkpoint ({} tokens, seed {}) to {}", len(tokenizer), seed, directory)
    return directory


# How much the tiny model likes or shuns an action, in units of its logits' random spread: mostly clicks,
# rarely an early end, a junk address or a step through history.
ACTION_PREFERENCES = {
    "left_click": 1.5, "click": 1.5, "terminate": -1.5, "navigate": -1.5, "back": -1.5, "forward": -1.5,
}
# Wide weights make the answer depend on what the model is shown; with the usual narrow ones, every screen
# and task gets the same answer.
WEIGHT_SPREAD = 0.3


def _lean_towards_clicks(model, tokenizer, seed: int) -> None:
    """Make the random model choose clicks most of the time, so a tiny run clicks, types and drags on the
    screen; its choices stay random and valid.

    One channel of the text model's residual stream is made a constant (every token embedding and image
    feature carries it; no layer writes to it), so after the final norm it acts as a bias input to the
    output layer; tokens that spell the start of a tag get weight on that channel by the tag's preference.
    """
    import torch

    language = model.model.language_model
    channel = language.config.hidden_size - 1
    with torch.no_grad():
        generator = torch.Generator().manual_seed(seed)
        for parameter in model.parameters():
            if parameter.dim() >= 2:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * WEIGHT_SPREAD)
        constant = language.embed_tokens.weight[:, :channel].norm(dim=1).mean().item()
        language.embed_tokens.weight[:, channel] = constant
        merger_out = model.model.visual.merger.mlp[-1]
        merger_out.weight[channel] = 0
        merger_out.bias[channel] = constant
        for layer in language.layers:
            layer.self_attn.o_proj.weight[channel] = 0
            layer.mlp.down_proj.weight[channel] = 0
        head = model.lm_head.weight
        head[:, channel] = 0
        # Measure, on some text, what the channel reads after the final norm and how widely logits spread.
        seen: list[torch.Tensor] = []
        hook = language.norm.register_forward_hook(lambda _m, _i, out: seen.append(out))
        ids = tokenizer(" ".join(_training_corpus()[:8]), return_tensors="pt").input_ids[:, :256]
        model(input_ids=ids)
        hook.remove()
        hidden = seen[0][0]
        bias_input = hidden[:, channel].mean().item()
        logit_spread = (hidden @ head.T).std(dim=1).mean().item()
        for token, index in tokenizer.get_vocab().items():
            text = tokenizer.convert_tokens_to_string([token]).lstrip(' "')
            likes = [v for tag, v in ACTION_PREFERENCES.items() if text and tag.startswith(text)]
            others = [tag for tag in SPACE_TAGS if text and tag.startswith(text) and tag not in ACTION_PREFERENCES]
            if likes and any(c.isalpha() for c in text):
                head[index, channel] = max(likes + [0.0] * bool(others)) * logit_spread / bias_input


def _write_model_card(directory: Path, seed: int) -> None:
    from agent.models.default_model import TINY_TAG

    (directory / "README.md").write_text(
        f"---\ntags: [{TINY_TAG}]\n---\n# Tiny random-weight Qwen2.5-VL (seed {seed})\n\n"
        "Written by `python -m agent make-tiny-model`: Qwen2.5-VL's architecture with a few small layers and random "
        "weights. Its actions are random (mostly clicks) and always valid; it checks a setup end to end, it "
        "does not do tasks.\n", encoding="utf-8")


# Text-model fields the released config.json keeps at its top level (it predates nested text configs).
_FLAT_TEXT_FIELDS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "hidden_act",
    "max_position_embeddings",
    "max_window_layers",
    "rms_norm_eps",
    "use_cache",
    "use_sliding_window",
    "sliding_window",
    "attention_dropout",
    "initializer_range",
    "bos_token_id",
    "eos_token_id",
)


def _write_released_config(directory: Path) -> None:
    """Rewrite config.json in the released checkpoints' flat form: text fields at the top level, the
    multimodal rotary sections under `rope_scaling` with type "mrope", `torch_dtype`. Loading must read
    this form, so the tiny model exercises it."""
    path = directory / "config.json"
    nested = json.loads(path.read_text())
    text = nested.pop("text_config")
    rope = text.get("rope_parameters", {})
    flat = {key: value for key, value in nested.items() if key not in ("dtype", "transformers_version")}
    flat.update({key: text[key] for key in _FLAT_TEXT_FIELDS if key in text})
    flat["rope_theta"] = rope.get("rope_theta", 1000000.0)
    flat["rope_scaling"] = {"type": "mrope", "mrope_section": rope["mrope_section"]}
    flat["torch_dtype"] = nested.get("dtype", "float32")
    vision = dict(flat["vision_config"])
    vision.pop("rope_parameters", None)
    vision.pop("model_type", None)
    flat["vision_config"] = vision
    path.write_text(json.dumps(flat, indent=2) + "\n")


def _write_released_layout(directory: Path) -> None:
    """Rewrite the processor files in the layout the released checkpoints use.

    They ship the image settings as a flat preprocessor_config.json (no processor_config.json, no video
    processor file) and the chat template in chat_template.json; loading must cope with exactly that.
    """
    (directory / "processor_config.json").unlink(missing_ok=True)
    (directory / "video_preprocessor_config.json").unlink(missing_ok=True)
    (directory / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR_CONFIG, indent=2) + "\n")
    template = directory / "chat_template.jinja"
    if template.exists():
        (directory / "chat_template.json").write_text(json.dumps({"chat_template": template.read_text()}) + "\n")
        template.unlink()


def main(argv: list[str] | None = None) -> int:
    """`python -m agent.models.tiny DIRECTORY [--seed N]`: write a tiny checkpoint to try the pipeline with."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m agent.models.tiny", description=main.__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--seed", type=int, default=0, help="picks the random weights")
    args = parser.parse_args(argv)
    path = make_tiny_model(args.directory, seed=args.seed)
    print(path)
    return 0


__all__ = ["CHAT_TEMPLATE", "QWEN_ADDED_TOKENS", "main", "make_tiny_model"]


if __name__ == "__main__":
    raise SystemExit(main())
