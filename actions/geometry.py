"""Screen geometry: Qwen's `smart_resize` and the one mapping from model-image space to driver space.

Three coordinate spaces meet here:

* model space: pixels of the image the model was shown (the screenshot after `smart_resize`);
* image space: physical pixels of the screenshot as captured (native resolution);
* driver space: what the driver acts in. Logical pixels for pyautogui and Playwright (physical / scale,
  offset by the monitor's origin in the virtual desktop); physical pixels for `adb shell input`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PATCH_FACTOR = 28
# The released Qwen2.5-VL checkpoints' preprocessor_config.json values.
CHECKPOINT_MIN_PIXELS = 3136
CHECKPOINT_MAX_PIXELS = 12845056
MAX_ASPECT_RATIO = 200


class GeometryError(ValueError):
    """An image size or coordinate that cannot be used; the message says what to do."""


def smart_resize(
    height: int,
    width: int,
    factor: int = PATCH_FACTOR,
    min_pixels: int = CHECKPOINT_MIN_PIXELS,
    max_pixels: int = CHECKPOINT_MAX_PIXELS,
) -> tuple[int, int]:
    """Return (height, width) as Qwen2.5-VL's image processor resizes them.

    Each side is rounded to a multiple of `factor`; if the area then exceeds `max_pixels` both sides are
    scaled down by sqrt(area / max_pixels) and floored to multiples of `factor`; if under `min_pixels`
    they are scaled up and ceiled.
    """
    if height <= 0 or width <= 0:
        raise GeometryError(f"image of size {width}x{height} has no pixels; expected a positive width and height")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise GeometryError(
            f"image of size {width}x{height} has an aspect ratio over {MAX_ASPECT_RATIO}, which Qwen2.5-VL refuses; "
            "crop the screenshot to a less extreme shape"
        )
    # No floor at `factor` here: transformers' processor (what the backend runs) has none either, so a tiny
    # side rounds to 0 and the min_pixels branch scales it up.
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


@dataclass(frozen=True)
class ImageBudget:
    """How many pixels the model's processor lets an image keep."""

    min_pixels: int = CHECKPOINT_MIN_PIXELS
    max_pixels: int = CHECKPOINT_MAX_PIXELS
    factor: int = PATCH_FACTOR

    def __post_init__(self) -> None:
        if not 0 < self.min_pixels <= self.max_pixels:
            raise GeometryError(
                f"min_pixels={self.min_pixels} and max_pixels={self.max_pixels} are not an increasing pair of "
                "positive numbers; set them so that 0 < min_pixels <= max_pixels"
            )

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of the image the model sees for a screenshot of `width`x`height`."""
        h, w = smart_resize(height, width, self.factor, self.min_pixels, self.max_pixels)
        return w, h


@dataclass(frozen=True)
class ScreenGeometry:
    """What a driver reports about its screen, so model coordinates can land on it.

    `width`/`height` are the screenshot's physical pixels. `scale` is physical pixels per driver unit
    (2.0 on a 2x HiDPI screen or a browser at device scale factor 2; 1.0 for adb). `origin_x`/`origin_y`
    place the screen's top-left corner in driver units (a monitor's place in the virtual desktop).
    """

    width: int
    height: int
    scale: float = 1.0
    origin_x: float = 0.0
    origin_y: float = 0.0

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.scale <= 0:
            raise GeometryError(
                f"screen geometry {self.width}x{self.height} at scale {self.scale} is impossible; "
                "the driver must report a positive size and scale"
            )

    @property
    def logical_size(self) -> tuple[float, float]:
        return self.width / self.scale, self.height / self.scale


@dataclass(frozen=True)
class CoordinateMapper:
    """Maps points from the model's (resized) image to the driver's coordinates, and back."""

    screen: ScreenGeometry
    model_width: int
    model_height: int

    @classmethod
    def for_screen(cls, screen: ScreenGeometry, budget: ImageBudget) -> CoordinateMapper:
        w, h = budget.resized_size(screen.width, screen.height)
        return cls(screen, w, h)

    def to_driver(self, point: tuple[int, int]) -> tuple[int, int]:
        """A model-space point to driver space. Off-image points are an error, never clamped."""
        x, y = point
        if not (0 <= x < self.model_width and 0 <= y < self.model_height):
            raise GeometryError(
                f"coordinate [{x}, {y}] is outside the screen, whose resolution is "
                f"{self.model_width}x{self.model_height}; give x in 0..{self.model_width - 1} and "
                f"y in 0..{self.model_height - 1}"
            )
        s = self.screen
        # Centre of the model pixel, scaled to physical pixels, then to driver units.
        px = (x + 0.5) * s.width / self.model_width
        py = (y + 0.5) * s.height / self.model_height
        dx = s.origin_x + px / s.scale
        dy = s.origin_y + py / s.scale
        # Keep the result on the driver's screen: the last unit is the one where the screenshot's last pixel
        # starts. A screenshot is the driver's size times the scale rounded to whole pixels (801 CSS px at
        # 1.5 shoot 1202 px, which read back as 801.33), so that pixel can end past the driver's edge but
        # never starts past it.
        return (
            int(min(math.floor(dx), math.floor(s.origin_x + (s.width - 1) / s.scale))),
            int(min(math.floor(dy), math.floor(s.origin_y + (s.height - 1) / s.scale))),
        )

    def to_model(self, point: tuple[float, float]) -> tuple[int, int]:
        """A driver-space point to the model image (for drawing, calibration and scripted agents)."""
        s = self.screen
        px = (point[0] - s.origin_x) * s.scale
        py = (point[1] - s.origin_y) * s.scale
        x = math.floor(px * self.model_width / s.width)
        y = math.floor(py * self.model_height / s.height)
        return (min(max(x, 0), self.model_width - 1), min(max(y, 0), self.model_height - 1))

    def to_image(self, point: tuple[int, int]) -> tuple[float, float]:
        """A model-space point to physical pixels of the screenshot (for drawing on it)."""
        return (
            (point[0] + 0.5) * self.screen.width / self.model_width,
            (point[1] + 0.5) * self.screen.height / self.model_height,
        )
