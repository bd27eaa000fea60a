"""Where and how the local model runs when its settings say "auto": the device, the weights' placement, the
dtype and the attention kernel."""

from __future__ import annotations

from typing import Any


def pick_device(device: str) -> str:
    import torch

    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def device_map(requested: str, device: str) -> str:
    """Where the weights go: with "auto" and several GPUs, sharded over all of them (inputs then go to the
    first, which is `device`); otherwise all on `device`."""
    import torch

    return "auto" if requested == "auto" and device == "cuda" and torch.cuda.device_count() > 1 else device


def pick_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def pick_attention(requested: str | None, device: str, dtype: Any, engine: str = "fast") -> str:
    import torch

    if requested is not None:
        return requested
    if engine == "fast":
        # Our engine's passes attend over a fixed-size cache through an explicit mask, which SDPA takes (and
        # runs with its own flash kernel where no mask is needed); the vision windows are batched for it.
        return "sdpa"
    # flash-attn runs only on a GPU and only in half precision.
    if device.startswith("cuda") and dtype in (torch.bfloat16, torch.float16):
        try:
            import flash_attn  # noqa: F401

            return "flash_attention_2"
        except ImportError:
            pass
    return "sdpa"
