"""`agent.models.vision_fast` reproduces the stock Qwen2.5-VL vision tower, caches its geometry and never syncs.

Towers are built from configs with random weights (no download): the real window geometry (14-pixel
patches, 2x2 merge, 112-pixel windows) with tiny widths, so windows, edge windows and full-attention
blocks are all exercised in fp32 on the CPU.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

from actions.geometry import smart_resize
from agent.models.archs import ARCHS, CONFIG_TOKENS, qwen_config
from agent.models.vision_fast import FastVision, build_geometry
from tests.support.vision import Grids, random_pixels, sharpen_vision, stock_image_features

Model = Qwen2_5_VLForConditionalGeneration

# fp32 on the CPU: the batched attention differs from the per-window loop only by summation order.
ATOL, RTOL = 1e-5, 1e-4

# A 1000x700 screenshot through the processor's resize: 50x72 patches, i.e. 25x36 merged tokens, so the
# last window row holds one merged row (edge windows are short) and the columns tile exactly (the stock
# helper then emits empty windows that it drops again).
H_1000x700, W_1000x700 = smart_resize(700, 1000)
GRID_1000x700 = (1, H_1000x700 // 14, W_1000x700 // 14)
GRID_ONE_WINDOW = (1, 8, 6)  # 4x3 merged tokens: smaller than one 4x4-merged-token window
GRID_SMALL = (1, 12, 20)  # 6x10 merged tokens: 2x3 windows, all but one short
GRID_VIDEO = (2, 8, 12)  # two frames: full-attention blocks attend per frame


def _config() -> Qwen2_5_VLConfig:
    """The tiny architecture with a deeper, wider tower: two windowed blocks, each followed by a full one."""
    tiny = ARCHS["tiny"]
    vision = {**tiny.vision, "depth": 4, "hidden_size": 64, "intermediate_size": 128, "fullatt_block_indexes": [1, 3]}
    return qwen_config(replace(tiny, vision=vision), {t: i for i, t in enumerate(CONFIG_TOKENS)}, vocab_size=128)


@pytest.fixture(scope="module")
def model() -> Model:
    torch.manual_seed(0)
    built = Qwen2_5_VLForConditionalGeneration(_config()).eval()
    sharpen_vision(built, seed=1)
    return built


@pytest.mark.parametrize(
    "grids",
    [
        pytest.param([GRID_1000x700], id="1000x700-edge-windows"),
        pytest.param([GRID_ONE_WINDOW], id="one-window"),
        pytest.param([GRID_1000x700, GRID_SMALL], id="two-images"),
        pytest.param([GRID_SMALL, GRID_VIDEO, GRID_ONE_WINDOW], id="three-inputs-with-two-frames"),
    ],
)
def test_matches_stock_get_image_features(model: Model, grids: Grids) -> None:
    pixel_values = random_pixels(grids)
    expected = stock_image_features(model.model.visual, pixel_values, grids)
    got = FastVision(model.model.visual)(pixel_values, grids)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=ATOL, rtol=RTOL), (got - expected).abs().max()


def test_matches_stock_at_1080p(model: Model) -> None:
    grids = [(1, 78, 138)]  # a 1920x1080 screenshot: 10,764 patches, 180 windows
    pixel_values = random_pixels(grids, seed=3)
    got = FastVision(model.model.visual)(pixel_values, grids)
    assert torch.allclose(got, stock_image_features(model.model.visual, pixel_values, grids), atol=ATOL, rtol=RTOL)


def test_window_grouping_is_observable(model: Model) -> None:
    """The equality tests can fail: attending across windows (full attention everywhere) changes the output."""
    grids = [GRID_1000x700]
    pixel_values = random_pixels(grids)
    fast = FastVision(model.model.visual)
    fast.fullatt_blocks = frozenset(range(len(model.model.visual.blocks)))
    expected = stock_image_features(model.model.visual, pixel_values, grids)
    assert not torch.allclose(fast(pixel_values, grids), expected, atol=ATOL, rtol=RTOL)


def test_geometry_layout_pads_edge_windows(model: Model) -> None:
    geometry = build_geometry(model.model.visual, [GRID_1000x700], "cpu")
    # 25x36 merged tokens in 4x4 windows: 7 window rows (the last one merged row high) x 9 columns.
    assert geometry.windowed.num_segments == 7 * 9
    assert geometry.windowed.max_len == 64
    assert geometry.windowed.key_mask is not None
    assert int(geometry.windowed.key_mask.sum()) == geometry.num_patches
    # One image at full attention is a plain view: no gather, no mask.
    assert geometry.full.num_segments == 1 and geometry.full.gather is None and geometry.full.key_mask is None
    assert sorted(geometry.patch_order.tolist()) == list(range(geometry.num_patches))


def test_matches_the_tiny_checkpoint(tiny_model_dir: Path) -> None:
    """The project's tiny checkpoint (real window geometry, depth 2) loaded the way the backend loads it."""
    loaded = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    assert loaded.model.visual.window_size == 112 and loaded.model.visual.fullatt_block_indexes
    sharpen_vision(loaded, seed=2)
    grids = [GRID_1000x700, GRID_ONE_WINDOW]
    pixel_values = random_pixels(grids, seed=4)
    got = FastVision(loaded.model.visual)(pixel_values, grids)
    assert torch.allclose(got, stock_image_features(loaded.model.visual, pixel_values, grids), atol=ATOL, rtol=RTOL)


def test_geometry_is_built_once_per_grid_tuple(model: Model) -> None:
    fast = FastVision(model.model.visual, cache_size=2)
    one, two = [GRID_ONE_WINDOW], [GRID_ONE_WINDOW, GRID_SMALL]
    first = fast(random_pixels(one), one)
    assert fast.geometry_builds == 1
    assert torch.equal(fast(random_pixels(one), one), first)
    assert fast.geometry_builds == 1  # cache hit
    assert fast.geometry(one, "cpu") is fast.geometry(one, "cpu")
    fast(random_pixels(two), two)
    assert fast.geometry_builds == 2  # a different tuple of grids is a different geometry
    fast(random_pixels([GRID_SMALL]), [GRID_SMALL])
    assert fast.geometry_builds == 3
    fast(random_pixels(one), one)  # evicted by the LRU of two entries
    assert fast.geometry_builds == 4


def test_rejects_pixels_that_do_not_match_the_grids(model: Model) -> None:
    with pytest.raises(ValueError, match="patches"):
        FastVision(model.model.visual)(random_pixels([GRID_SMALL]), [GRID_ONE_WINDOW])


def _trap_host_syncs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the Python-level ways of reading a tensor back on the host raise (on CPU nothing else would show it)."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise RuntimeError("host-device sync")

    for name in ("item", "tolist", "nonzero", "__bool__", "__int__", "__float__", "__index__"):
        monkeypatch.setattr(torch.Tensor, name, forbidden)
    monkeypatch.setattr(torch, "nonzero", forbidden)


def test_cached_call_makes_no_host_sync(model: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    grids = [GRID_1000x700, GRID_SMALL]
    pixel_values = random_pixels(grids)
    fast = FastVision(model.model.visual)
    expected = fast(pixel_values, grids)  # builds (and caches) the geometry, which may sync
    _trap_host_syncs(monkeypatch)
    got = fast(pixel_values, grids)
    assert torch.equal(got, expected)
    # The trap is live: the stock path reads the grids back with .tolist() and trips it.
    with pytest.raises(RuntimeError, match="host-device sync"):
        stock_image_features(model.model.visual, pixel_values, grids)
