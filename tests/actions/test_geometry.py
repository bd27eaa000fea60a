"""smart_resize against transformers' own Qwen2-VL implementation, and the model-to-driver mapping."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as qwen_smart_resize

from actions.geometry import (
    CHECKPOINT_MAX_PIXELS,
    CoordinateMapper,
    GeometryError,
    ImageBudget,
    ScreenGeometry,
    smart_resize,
)


@settings(max_examples=2000, deadline=None)
@given(
    h=st.integers(1, 8000),
    w=st.integers(1, 8000),
    budget=st.sampled_from([(3136, CHECKPOINT_MAX_PIXELS), (3136, 1280 * 28 * 28), (256 * 28 * 28, 1280 * 28 * 28),
                            (3136, 100_000), (50_000, 60_000)]),
)
def test_smart_resize_matches_qwen(h: int, w: int, budget: tuple[int, int]) -> None:
    lo, hi = budget
    try:
        expected = qwen_smart_resize(h, w, 28, lo, hi)
    except ValueError:
        with pytest.raises(GeometryError):
            smart_resize(h, w, 28, lo, hi)
        return
    assert smart_resize(h, w, 28, lo, hi) == expected


@pytest.mark.parametrize(
    ("size", "resized"),
    [((1080, 2400), (1092, 2408)), ((2560, 1440), (2548, 1428)), ((1920, 1080), (1932, 1092))],
)
def test_checkpoint_budget_examples(size: tuple[int, int], resized: tuple[int, int]) -> None:
    # The sizes DESIGN.md quotes for the released checkpoints' max_pixels.
    assert ImageBudget().resized_size(*size) == resized


def test_refuses_extreme_aspect_ratio_and_empty_images() -> None:
    with pytest.raises(GeometryError, match="aspect ratio"):
        smart_resize(10, 2010)
    with pytest.raises(GeometryError, match="no pixels"):
        smart_resize(0, 100)


@settings(max_examples=500, deadline=None)
@given(
    w=st.integers(200, 4000),
    h=st.integers(200, 4000),
    scale=st.sampled_from([1.0, 1.25, 1.5, 2.0, 3.0]),
    origin=st.tuples(st.integers(-4000, 4000), st.integers(-2000, 2000)),
    max_pixels=st.sampled_from([100_000, 1280 * 28 * 28, CHECKPOINT_MAX_PIXELS]),
    fx=st.floats(0, 1, exclude_max=True),
    fy=st.floats(0, 1, exclude_max=True),
)
def test_mapping_lands_on_the_screen_and_round_trips(w, h, scale, origin, max_pixels, fx, fy) -> None:
    screen = ScreenGeometry(w, h, scale, float(origin[0]), float(origin[1]))
    mapper = CoordinateMapper.for_screen(screen, ImageBudget(max_pixels=max_pixels))
    point = (int(fx * mapper.model_width), int(fy * mapper.model_height))
    dx, dy = mapper.to_driver(point)
    lw, lh = screen.logical_size
    assert origin[0] <= dx < origin[0] + lw
    assert origin[1] <= dy < origin[1] + lh
    # The driver point lies within one model pixel of where the model pointed, measured in physical pixels.
    px, py = (dx - origin[0]) * scale, (dy - origin[1]) * scale
    cell_w, cell_h = w / mapper.model_width, h / mapper.model_height
    assert abs(px - (point[0] + 0.5) * cell_w) <= cell_w / 2 + scale
    assert abs(py - (point[1] + 0.5) * cell_h) <= cell_h / 2 + scale


@settings(max_examples=500, deadline=None)
@given(
    size=st.tuples(st.integers(64, 4000), st.integers(64, 3000)),
    scale=st.sampled_from([0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0]),
    rounding=st.sampled_from([math.floor, math.ceil, lambda v: math.floor(v + 0.5)]),
    max_pixels=st.sampled_from([100_000, 1280 * 28 * 28, CHECKPOINT_MAX_PIXELS]),
    fx=st.floats(0, 1, exclude_max=True),
    fy=st.floats(0, 1, exclude_max=True),
)
def test_mapping_stays_inside_a_driver_whose_screenshot_size_was_rounded(
    size, scale, rounding, max_pixels, fx, fy
) -> None:
    # A browser at a fractional scale shoots its viewport times the scale rounded to whole pixels, so the
    # screenshot can imply a slightly larger screen than the one the driver accepts points in.
    w, h = size
    screen = ScreenGeometry(rounding(w * scale), rounding(h * scale), scale)
    mapper = CoordinateMapper.for_screen(screen, ImageBudget(max_pixels=max_pixels))
    for point in [(int(fx * mapper.model_width), int(fy * mapper.model_height)),
                  (mapper.model_width - 1, mapper.model_height - 1)]:
        x, y = mapper.to_driver(point)
        assert 0 <= x < w and 0 <= y < h


def test_fractional_scale_example() -> None:
    # A 801x601 viewport at device scale factor 1.5 shoots 1202x902 px, which reads back as 801.33x601.33.
    mapper = CoordinateMapper.for_screen(ScreenGeometry(1202, 902, 1.5), ImageBudget())
    assert (mapper.model_width, mapper.model_height) == (1204, 896)
    assert mapper.to_driver((1203, 895)) == (800, 600)
    assert mapper.to_driver((0, 0)) == (0, 0)


def test_hidpi_second_monitor_example() -> None:
    # A 2x HiDPI monitor of 2560x1440 physical pixels placed left of the primary one, at x = -1280.
    screen = ScreenGeometry(2560, 1440, 2.0, -1280.0, 0.0)
    mapper = CoordinateMapper.for_screen(screen, ImageBudget())  # model sees 2548x1428
    assert (mapper.model_width, mapper.model_height) == (2548, 1428)
    # The model's centre pixel lands at the monitor's logical centre.
    x, y = mapper.to_driver((1274, 714))
    assert (x, y) == (-640, 360)
    assert mapper.to_model((x, y)) == (1274, 714)


@pytest.mark.parametrize("point", [(-1, 5), (5, -1), (2548, 5), (5, 1428), (10**9, 0)])
def test_off_image_points_are_errors_not_clicks(point: tuple[int, int]) -> None:
    mapper = CoordinateMapper.for_screen(ScreenGeometry(2560, 1440), ImageBudget())
    with pytest.raises(GeometryError, match="outside the screen"):
        mapper.to_driver(point)
