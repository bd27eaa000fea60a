"""Every call into transformers' and torch's non-public surface, behind one version check.

Our engine and fast vision path lean on parts of transformers that change between minor releases without
notice. This module is the only one that reaches them (tests/models/test_transformers_fence.py holds every other
package module to that), and before it touches any of them it checks the installed versions against the range
the project is tested with, so a mismatch is one clear error instead of wrong tokens or a deep traceback.

The contact points, each behind a helper below:

- attention: our attention function and SDPA's mask builder registered under one name, the text model routed to
  it; the attention-interface signature, the attention module's `num_key_value_groups` and `scaling`,
  transformers' `sdpa_attention_forward` and `repeat_kv`; torch's prototype `causal_lower_right` bias;
- the model's forward: the `cache=` keyword, per-layer-type attention masks (None: build none), a 4D boolean mask
  taken as-is, extra keywords reaching the attention function;
- the static cache: its constructor and its crop rule (a negative count of slots to drop);
- `get_rope_index` and its `mm_token_type_ids` signature;
- the vision tower: where it sits in the model, `transformers.vision_utils`' window and rotary helpers, the rotary
  module's two-argument call, the private `apply_rotary_pos_emb_vision`; vision_fast.py runs the tower's blocks
  on their own submodules (tests/models/test_vision_fast.py checks that against the stock tower);
- the image processor's `size` (a dataclass of shortest/longest edge), and the private `_from_config`.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.models.base import ModelError

if TYPE_CHECKING:
    import torch
    from torch import nn

# What the project is tested with; pyproject.toml's `model` extra pins the same (a test holds the two together).
TRANSFORMERS_REQUIREMENT = "transformers>=5.24,<5.25"
TORCH_REQUIREMENT = "torch>=2.4"

# The name our attention is registered under.
ATTENTION = "agent_sdpa"
# The forward keyword that tells our attention a pass is the engine's prefill, and how long the prompt is.
PROMPT_LENGTH = "engine_prompt_length"


def version_problem(requirement: str, found: str) -> str | None:
    """Why `found` does not meet `requirement` ("name>=a,<b"), or None when it does."""
    from packaging.requirements import Requirement
    from packaging.version import InvalidVersion, Version

    wanted = Requirement(requirement)
    try:
        # Pre-releases and local builds of a supported release (5.24.1.dev0, 2.14.1+cu130) count as it.
        if wanted.specifier.contains(Version(found), prereleases=True):
            return None
    except InvalidVersion:
        pass
    return (f"{wanted.name} {found} is installed, but this project calls into {wanted.name} internals and is "
            f"tested only with {requirement}; install that range: pip install '{requirement}'")


@functools.cache
def check_versions() -> None:
    """Raise `ModelError` naming the supported range and the pip command when torch or transformers is outside
    it. Checked once per process (a failure is not cached, so it is raised again on the next call)."""
    import torch
    import transformers

    problems = [p for p in (version_problem(TRANSFORMERS_REQUIREMENT, transformers.__version__),
                            version_problem(TORCH_REQUIREMENT, str(torch.__version__))) if p]
    if problems:
        raise ModelError("; ".join(problems))


# --- attention --------------------------------------------------------------------------------------------


def use_engine_attention(model: nn.Module) -> None:
    """Route the language model's attention through `continued_prefill_attention` (vision is untouched).

    Plain SDPA would take a prefill after a reused prompt start with a dense mask over the whole static cache,
    which rules out its flash kernel.
    """
    check_versions()
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ATTENTION, continued_prefill_attention)
    AttentionMaskInterface.register(ATTENTION, sdpa_mask)
    model.set_attn_implementation({"text_config": ATTENTION})


def continued_prefill_attention(
    module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
    attention_mask: torch.Tensor | None, engine_prompt_length: int | None = None, **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """transformers' SDPA attention, except in the engine's prefill (which passes `engine_prompt_length`).

    There, the first `engine_prompt_length` cache slots are real (the rest is empty) and the queries are the
    last of them, or all of them from an empty cache: causal attention aligned to the bottom right, which SDPA
    runs with its flash kernel when given a causal bias instead of a dense mask.
    """
    import torch.nn.functional as F
    from torch.nn.attention.bias import causal_lower_right
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    if engine_prompt_length is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    groups = module.num_key_value_groups
    key = repeat_kv(key[:, :, :engine_prompt_length], groups)
    value = repeat_kv(value[:, :, :engine_prompt_length], groups)
    bias = causal_lower_right(query.shape[2], engine_prompt_length)
    output = F.scaled_dot_product_attention(query, key, value, attn_mask=bias, scale=module.scaling)
    return output.transpose(1, 2).contiguous(), None


# --- forward passes over a static cache -------------------------------------------------------------------


def static_cache(model: nn.Module, capacity: int) -> Any:
    """A static KV cache of `capacity` slots for `model` (a transformers `StaticCache`)."""
    check_versions()
    from transformers import StaticCache

    return StaticCache(config=model.config, max_cache_len=capacity)


def drop_last(cache: Any, count: int) -> None:
    """Forget the cache's last `count` slots (they are overwritten by the next pass; masks hide them till then)."""
    if count > 0:
        cache.crop(-count)  # a static cache crops by a negative count


def prefill_logits(model: nn.Module, cache: Any, embeds: torch.Tensor, positions: torch.Tensor,
                   prompt_length: int) -> torch.Tensor:
    """Feed `embeds` (1, n, hidden) as the last n of `prompt_length` prompt tokens; the last token's logits.

    Every layer kind gets no mask: `continued_prefill_attention` applies the causal bias itself, after a reused
    start as from an empty cache, where transformers would build a dense mask over the whole static cache.
    """
    layer_kinds = getattr(model.config.get_text_config(), "layer_types", None) or ["full_attention"]
    output = model(
        inputs_embeds=embeds,
        position_ids=positions,
        attention_mask=dict.fromkeys(layer_kinds),
        cache=cache,
        use_cache=True,
        logits_to_keep=1,
        **{PROMPT_LENGTH: prompt_length},
    )
    return output.logits[0, -1]


def chunk_logits(model: nn.Module, cache: Any, input_ids: torch.Tensor, positions: torch.Tensor,
                 mask: torch.Tensor) -> torch.Tensor:
    """Feed `input_ids` (1, n) after the cache's slots; logits for each, as (n, vocab).

    `mask` is (1, 1, n, capacity), boolean "may attend": transformers takes a 4D mask as-is, so nothing is read
    back from the device (a CUDA graph being captured cannot read back).
    """
    output = model(input_ids=input_ids, position_ids=positions, attention_mask=mask, cache=cache, use_cache=True)
    return output.logits[0]


def rope_index(model: nn.Module, input_ids: torch.Tensor, mm_token_type_ids: torch.Tensor,
               image_grid_thw: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Qwen2.5-VL's (3, 1, n) rotary positions for a prompt with images, and the text offset after it."""
    check_versions()
    inner = getattr(model, "model", model)
    positions, deltas = inner.get_rope_index(
        input_ids, mm_token_type_ids=mm_token_type_ids, image_grid_thw=image_grid_thw
    )
    return positions, int(deltas.reshape(-1)[0])


# --- the vision tower -------------------------------------------------------------------------------------


def vision_tower(model: nn.Module) -> nn.Module:
    """The vision tower of a Qwen2.5-VL model (`model.model.visual`)."""
    inner = getattr(model, "model", model)
    return getattr(inner, "visual", None) or model.visual


@dataclass(frozen=True)
class VisionIndices:
    """The stock tower's ordering of patches for a tuple of grids, as transformers' own helpers compute it."""

    window_index: torch.Tensor  # (merged tokens,) long: window order -> merge unit
    cu_window_seqlens: torch.Tensor  # window boundaries in window order (may repeat: empty windows)
    cu_seqlens: torch.Tensor  # frame boundaries
    position_ids: torch.Tensor  # (patches, 2) rotary (row, column) ids


def vision_indices(visual: nn.Module, grid_thw: torch.Tensor) -> VisionIndices:
    """transformers' window and rotary indices for the (images, 3) host tensor `grid_thw`."""
    check_versions()
    from transformers.vision_utils import get_vision_cu_seqlens, get_vision_position_ids, get_vision_window_index

    merge = int(visual.spatial_merge_size)
    window_index, cu_window_seqlens = get_vision_window_index(
        grid_thw, spatial_merge_size=merge, window_size=visual.window_size, patch_size=visual.patch_size
    )
    return VisionIndices(window_index, cu_window_seqlens, get_vision_cu_seqlens(grid_thw),
                         get_vision_position_ids(grid_thw, merge))


def vision_rotary(visual: nn.Module, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin) per patch from the tower's own rotary module, so they are bit-identical to the stock ones."""
    return visual.rotary_pos_emb(position_ids, position_ids)


def rotate_vision(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor,
                  sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The stock vision rotary embedding: q and k go through float32 and back, exactly as in the stock forward."""
    check_versions()
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import apply_rotary_pos_emb_vision

    return apply_rotary_pos_emb_vision(q, k, cos, sin)


# --- loading ----------------------------------------------------------------------------------------------


def set_pixel_limits(image_processor: Any, min_pixels: int, max_pixels: int) -> None:
    """Set the image processor's pixel budget (its `size` holds them as shortest and longest edge)."""
    image_processor.size = dataclasses.replace(image_processor.size, shortest_edge=min_pixels,
                                               longest_edge=max_pixels)


def model_from_config(model_class: Any, config: Any, dtype: torch.dtype, attn_implementation: str) -> nn.Module:
    """A model with fresh random weights, created in `dtype` on the current default device (no CPU copy first)."""
    check_versions()
    return model_class._from_config(config, dtype=dtype, attn_implementation=attn_implementation)


__all__ = ["ATTENTION", "PROMPT_LENGTH", "TORCH_REQUIREMENT", "TRANSFORMERS_REQUIREMENT", "VisionIndices",
           "check_versions", "chunk_logits", "continued_prefill_attention", "drop_last", "model_from_config",
           "prefill_logits", "rope_index", "rotate_vision", "set_pixel_limits", "static_cache",
           "use_engine_attention", "version_problem", "vision_indices", "vision_rotary", "vision_tower"]
