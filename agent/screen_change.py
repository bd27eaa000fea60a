"""Did the screen change? A comparison that ignores a blinking cursor and other specks.

Both screenshots are shrunk to a grey thumbnail about 256 pixels wide and cut into cells of 8x8 thumbnail
pixels. A cell counts as changed when its mean difference is over a threshold: a thin cursor or a ticking
seconds digit averages away inside its cell, while a toggled switch, a new page or a typed word does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

THUMB_WIDTH = 256
CELL = 8
# Mean grey difference (0-255) over a cell that counts as a change.
CELL_THRESHOLD = 6.0


@dataclass(frozen=True)
class ScreenSignature:
    """A screenshot reduced for comparison; cheap to keep one per step."""

    cells: np.ndarray  # mean grey per cell, float32
    size: tuple[int, int]  # the screenshot's size

    @classmethod
    def of(cls, image: Image.Image) -> ScreenSignature:
        w, h = image.size
        tw = min(THUMB_WIDTH, w)
        th = max(CELL, round(h * tw / w))
        grey = np.asarray(image.convert("L").resize((tw, th), Image.Resampling.BOX), dtype=np.float32)
        rows, cols = th // CELL, tw // CELL
        cells = grey[: rows * CELL, : cols * CELL].reshape(rows, CELL, cols, CELL).mean(axis=(1, 3))
        return cls(cells, (w, h))

    def changed_cells(self, other: ScreenSignature) -> int:
        if self.size != other.size or self.cells.shape != other.cells.shape:
            return self.cells.size  # rotated or resized: everything changed
        return int((np.abs(self.cells - other.cells) > CELL_THRESHOLD).sum())

    def same_as(self, other: ScreenSignature) -> bool:
        return self.changed_cells(other) == 0
