"""Vision-tower helpers shared by the fast-vision tests (CPU, fp32) and the GPU tests (bf16)."""

from __future__ import annotations

from typing import Any

import torch

Grids = list[tuple[int, int, int]]

PATCH_DIM = 3 * 2 * 14 * 14  # in_channels * temporal_patch_size * patch_size**2


def sharpen_vision(model: Any, seed: int, std: float = 0.1) -> None:
    """Redraw the vision weights wider than the default init (std 0.02 suits width 1280, not a tiny tower), so
    attention is far from uniform and a token attending to the wrong window moves the output well past any
    tolerance. Drawn on the weights' own device, so a GPU tower takes no seconds of host randn."""
    with torch.no_grad():
        parameters = [p for p in model.model.visual.parameters() if p.dim() >= 2]
        generator = torch.Generator(device=parameters[0].device).manual_seed(seed)
        for parameter in parameters:
            drawn = torch.randn(parameter.shape, generator=generator, device=parameter.device)
            parameter.copy_(drawn * std)


def random_pixels(grids: Grids, seed: int = 0, device: str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The processor's `(patches, PATCH_DIM)` layout, filled with normal noise."""
    patches = sum(t * h * w for t, h, w in grids)
    drawn = torch.randn(patches, PATCH_DIM, generator=torch.Generator().manual_seed(seed))
    return drawn.to(device=device, dtype=dtype)


def stock_image_features(visual: Any, pixel_values: torch.Tensor, grids: Grids) -> torch.Tensor:
    """What transformers' own vision tower returns for these pixels, images concatenated in order (the grids on
    the pixels' device, where the processor's output puts them)."""
    grid_thw = torch.tensor(grids, device=pixel_values.device)
    with torch.no_grad():
        return visual(pixel_values, grid_thw=grid_thw).pooler_output
