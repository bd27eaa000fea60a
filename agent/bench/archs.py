"""The benchmark's random-weight models: the architectures of agent.models.archs on a device, behind the backend."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from agent.bench.options import BenchOptions
from agent.models.archs import ARCHS, CONFIG_TOKENS, ArchSpec, qwen_config
from agent.models.base import ModelError


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
    vocab = tokenizer.get_vocab()
    missing = [t for t in CONFIG_TOKENS if t not in vocab]
    if missing:
        raise ModelError(
            f"the tokenizer lacks Qwen's tokens {', '.join(missing)}; pass --processor a Qwen2.5-VL checkpoint"
        )
    # The embedding must cover the tokenizer; the released tables are padded to a multiple of 64.
    return qwen_config(spec, vocab, max(spec.vocab_size, -(-len(tokenizer) // 64) * 64))


def build_model(arch: str, options: BenchOptions, processor: Any) -> BenchModel:
    """Random weights in `arch`'s shape, created directly on the device in the target dtype (seconds, even for 7B)."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    from agent.models.settings import ModelSettings
    from agent.models.devices import pick_attention, pick_device, pick_dtype
    from agent.models.transformers_backend import TransformersBackend
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


