"""The tiny random-weight Qwen2.5-VL checkpoint, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.models.tiny import make_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete Qwen2.5-VL checkpoint directory with random weights (about a megabyte)."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny-qwen2.5-vl"))


def reseed_weights(model, seed: int, std: float = 0.5) -> None:
    """Draw new random weights in place, so one loaded model stands for many checkpoints.

    A wide spread makes each seed's argmax choices differ more, which is what a property test over
    seeds wants to see.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() >= 2:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)
