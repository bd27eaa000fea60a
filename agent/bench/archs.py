"""The random-weight Qwen2.5-VL architectures the benchmark builds, with the published checkpoints' shapes."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from agent.bench.options import BenchOptions
from agent.models.base import ModelError


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
    # The shape of agent.models.tiny's checkpoint: runs in milliseconds on a CPU, so CI exercises the harness.
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
    ),
}



@dataclass
class BenchModel:
    """One random-weight architecture on its device, with the backend wrapped around it."""

    arch: str
    backend: Any  # TransformersBackend
    parameters: int
    build_s: float

    @property
    def model(self) -> Any:
        return self.backend.model

    @property
    def processor(self) -> Any:
        return self.backend.processor


def tiny_processor_dir() -> Path:
    """The tiny checkpoint's folder in the temp directory, written once; its tokenizer and processor are used."""
    from agent.models.tiny import make_tiny_model

    directory = Path(tempfile.gettempdir()) / "agent-bench-tiny-qwen2.5-vl"
    if not (directory / "model.safetensors").exists():
        make_tiny_model(directory)
    return directory


def load_processor(source: str | None) -> Any:
    from transformers import AutoProcessor

    from agent.models.loading import resolve_checkpoint

    directory = resolve_checkpoint(source) if source else tiny_processor_dir()
    try:
        return AutoProcessor.from_pretrained(directory)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(
            f"no processor loads from {directory} ({exc}); pass --processor a Qwen2.5-VL checkpoint"
        ) from None


def build_config(spec: ArchSpec, tokenizer: Any) -> Any:
    """The architecture's config with the special-token ids of `tokenizer`, so its prompts line up."""
    from transformers import Qwen2_5_VLConfig

    vocab = tokenizer.get_vocab()
    names = ("<|endoftext|>", "<|im_end|>", "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    missing = [t for t in names if t not in vocab]
    ids = {t: vocab.get(t, -1) for t in names}
    if missing:
        raise ModelError(
            f"the tokenizer lacks Qwen's tokens {', '.join(missing)}; pass --processor a Qwen2.5-VL checkpoint"
        )
    # The embedding must cover the tokenizer; the released tables are padded to a multiple of 64.
    vocab_size = max(spec.vocab_size, -(-len(tokenizer) // 64) * 64)
    return Qwen2_5_VLConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": spec.hidden_size,
            "intermediate_size": spec.intermediate_size,
            "num_hidden_layers": spec.num_hidden_layers,
            "num_attention_heads": spec.num_attention_heads,
            "num_key_value_heads": spec.num_key_value_heads,
            "hidden_act": "silu",
            "max_position_embeddings": 128000,
            "max_window_layers": 70,
            "rms_norm_eps": 1e-6,
            "use_sliding_window": False,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1000000.0,
                "mrope_section": list(spec.mrope_section),
            },
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            "tie_word_embeddings": spec.tie_word_embeddings,
        },
        vision_config=dict(spec.vision),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=spec.tie_word_embeddings,
    )


def build_model(arch: str, options: BenchOptions, processor: Any) -> BenchModel:
    """Random weights in `arch`'s shape, created directly on the device in the target dtype (seconds, even for 7B)."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    from agent.models.settings import ModelSettings
    from agent.models.transformers_backend import TransformersBackend, pick_attention, pick_device, pick_dtype
    from agent.models.transformers_fence import model_from_config

    spec = ARCHS[arch]
    device = pick_device(options.device)
    if spec.gpu_only and not device.startswith("cuda"):
        raise ModelError(f"the {arch} architecture is meant for a GPU and none is in use (device {device}); "
                         "run it where torch.cuda.is_available(), or use --arch tiny on the CPU")
    dtype = pick_dtype(options.dtype, device)
    attention = pick_attention(options.attn_implementation, device, dtype)
    config = build_config(spec, processor.tokenizer)
    started = time.perf_counter()
    torch.manual_seed(options.seed)
    try:
        # Allocating on the device skips a CPU copy of ~16 GB for 7B; the model is initialised in `dtype`.
        with torch.device(device):
            model = model_from_config(Qwen2_5_VLForConditionalGeneration, config, dtype, attention)
    except torch.cuda.OutOfMemoryError:
        raise ModelError(f"the {arch} architecture does not fit on {device} in {dtype}; use a larger GPU") from None
    stop_ids = [config.text_config.eos_token_id, config.text_config.pad_token_id]
    # Neutral decoding settings, not the released sampling ones (top_k=1, repetition_penalty=1.05): `generate`
    # is the cookbooks' call with do_sample=False, and its greedy answer is what `ours` must reproduce.
    model.generation_config = GenerationConfig(
        bos_token_id=config.text_config.bos_token_id, eos_token_id=stop_ids, pad_token_id=stop_ids[1]
    )
    settings = ModelSettings(
        model=f"random-{arch}",
        device=device,
        max_pixels=options.max_pixels,
        max_new_tokens=options.new_tokens,
        constrained=options.constrained,
        attn_implementation=attention,
    )
    backend = TransformersBackend.from_model(settings, model, processor, name=f"random-{arch}")
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    built = time.perf_counter() - started
    parameters = sum(p.numel() for p in model.parameters())
    logger.info("built random {} ({:.2f}B parameters, {}, {} attention) on {} in {:.1f} s", arch,
                parameters / 1e9, str(dtype).removeprefix("torch."), attention, device, built)
    return BenchModel(arch=arch, backend=backend, parameters=parameters, build_s=built)


