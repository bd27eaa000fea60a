"""What one `python -m agent bench` run measures: architectures, screens, lengths, device."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SCREENS: tuple[tuple[int, int], ...] = ((1920, 1080), (2560, 1440), (1080, 2400))


@dataclass(frozen=True)
class BenchOptions:
    archs: tuple[str, ...] = ("tiny",)
    screens: tuple[tuple[int, int], ...] = DEFAULT_SCREENS
    max_pixels: int | None = None  # None: the checkpoint's (native resolution up to 12.8 MP)
    new_tokens: int = 40
    repeats: int = 3
    warmup: int = 1
    history_images: int = 1
    constrained: bool = False
    device: str = "auto"
    dtype: str = "auto"
    attn_implementation: str | None = None
    processor: str | None = None  # checkpoint directory or id for tokenizer and processor; None: the tiny one
    seed: int = 0
    threads: int | None = None  # torch's intra-op CPU threads; None: torch's default (one per core)


