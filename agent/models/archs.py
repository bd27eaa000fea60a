"""Qwen2.5-VL architectures the project builds with random weights, and the one config builder for them.

The published 3B and 7B shapes (the benchmark times them on a GPU) and the tiny one: agent.models.tiny's
checkpoint, the benchmark's CPU run and the vision tests all build it here, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The special tokens a config names by id; the token ids come from the tokenizer the model is paired with.
CONFIG_TOKENS = ("<|endoftext|>", "<|im_end|>", "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")


@dataclass(frozen=True)
class ArchSpec:
    """The shape of one Qwen2.5-VL checkpoint, as its published config.json gives it."""

    name: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    tie_word_embeddings: bool
    mrope_section: tuple[int, int, int]
    vision: dict[str, Any]
    gpu_only: bool = True
    max_position_embeddings: int = 128000
    max_window_layers: int = 70


# The vision tower is the same in 3B and 7B (about 670M parameters): 32 blocks, windowed attention in all but
# four, a 2x2 patch merger whose output width is the language model's hidden size.
_VISION = {
    "depth": 32,
    "hidden_size": 1280,
    "intermediate_size": 3420,
    "num_heads": 16,
    "hidden_act": "silu",
    "fullatt_block_indexes": [7, 15, 23, 31],
    "window_size": 112,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "tokens_per_second": 2,
    "in_channels": 3,
}

ARCHS: dict[str, ArchSpec] = {
    # Qwen/Qwen2.5-VL-3B-Instruct: 36 layers, 16 query heads over 2 key/value heads (head_dim 128), tied embeddings.
    "3b": ArchSpec(
        name="3b",
        vocab_size=151936,
        hidden_size=2048,
        intermediate_size=11008,
        num_hidden_layers=36,
        num_attention_heads=16,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        mrope_section=(16, 24, 24),
        vision={**_VISION, "out_hidden_size": 2048},
    ),
    # Qwen/Qwen2.5-VL-7B-Instruct: 28 layers, 28 query heads over 4 key/value heads (head_dim 128).
    "7b": ArchSpec(
        name="7b",
        vocab_size=152064,
        hidden_size=3584,
        intermediate_size=18944,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
        tie_word_embeddings=False,
        mrope_section=(16, 24, 24),
        vision={**_VISION, "out_hidden_size": 3584},
    ),
    # The tiny checkpoint's (agent.models.tiny): the real geometry with a few small layers; milliseconds on a CPU.
    "tiny": ArchSpec(
        name="tiny",
        vocab_size=0,  # the tokenizer's length rounded up to 64, like the released embedding tables
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=False,
        mrope_section=(2, 3, 3),
        vision={
            **_VISION,
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "fullatt_block_indexes": [1],
            "out_hidden_size": 64,
        },
        gpu_only=False,
        max_position_embeddings=32768,
        max_window_layers=2,
    ),
}


def qwen_config(spec: ArchSpec, token_ids: Mapping[str, int], vocab_size: int) -> Any:  # -> Qwen2_5_VLConfig
    """`spec`'s config with the ids of `CONFIG_TOKENS` in `token_ids` and an embedding of `vocab_size` rows."""
    from transformers import Qwen2_5_VLConfig

    return Qwen2_5_VLConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": spec.hidden_size,
            "intermediate_size": spec.intermediate_size,
            "num_hidden_layers": spec.num_hidden_layers,
            "num_attention_heads": spec.num_attention_heads,
            "num_key_value_heads": spec.num_key_value_heads,
            "hidden_act": "silu",
            "max_position_embeddings": spec.max_position_embeddings,
            "max_window_layers": spec.max_window_layers,
            "rms_norm_eps": 1e-6,
            "use_sliding_window": False,
            # The multimodal rotary sections (temporal, height, width) cover half the head's dimensions.
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1000000.0,
                "mrope_section": list(spec.mrope_section),
            },
            "bos_token_id": token_ids["<|endoftext|>"],
            "eos_token_id": token_ids["<|im_end|>"],
            "pad_token_id": token_ids["<|endoftext|>"],
            "tie_word_embeddings": spec.tie_word_embeddings,
        },
        vision_config=dict(spec.vision),
        image_token_id=token_ids["<|image_pad|>"],
        video_token_id=token_ids["<|video_pad|>"],
        vision_start_token_id=token_ids["<|vision_start|>"],
        vision_end_token_id=token_ids["<|vision_end|>"],
        tie_word_embeddings=spec.tie_word_embeddings,
    )


__all__ = ["ARCHS", "CONFIG_TOKENS", "ArchSpec", "qwen_config"]
