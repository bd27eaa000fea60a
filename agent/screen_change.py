"""Did the screen change? Any change a person could read counts; a blinking text caret does not.

A counter going from 1 to 2 is a change the model must hear about (it clicked "+" and the order grew), so the
screens are compared pixel by pixel, in CSS pixels. What is ignored is a change no wider than a caret: a text
caret is one CSS pixel wide (two with antialiasing), while a changed glyph, a toggled switch or a new page
changes at least three pixels side by side somewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

# Grey levels (0-255) a pixel must move by to count: less is compression or blending noise.
PIXEL_THRESHOLD = 24
# Changed pixels side by side, in CSS px, that make a change: a caret is narrower.
MIN_RUN = 3


@dataclass(frozen=True)
class ScreenSignature:
    """A screenshot reduced for comparison: grey, in CSS pixels (a few MB at 1080p; the loop keeps a few)."""

    grey: np.ndarray  # uint8, height x width

    @classmethod
    def of(cls, image: Image.Image, scale: float = 1.0) -> ScreenSignature:
        """`scale`: device pixels per CSS pixel, so a caret is as narrow on a HiDPI screen as on any other."""
        grey = image.convert("L")
        if scale > 1:
            size = (max(1, round(grey.width / scale)), max(1, round(grey.height / scale)))
            grey = grey.resize(size, Image.Resampling.BOX)
        return cls(np.asarray(grey))

    def same_as(self, other: ScreenSignature) -> bool:
        if self.grey.shape != other.grey.shape:
            return False  # rotated or resized: everything changed
        a, b = self.grey, other.grey
        changed = (np.maximum(a, b) - np.minimum(a, b)) > PIXEL_THRESHOLD  # |a - b| in uint8, a few ms at 1080p
        width = changed.shape[1] - MIN_RUN + 1
        run = changed[:, :width].copy()
        for shift in range(1, MIN_RUN):
            run &= changed[:, shift: shift + width]
        return not run.any()
