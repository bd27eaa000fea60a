"""Model requests for the backend tests: random screenshots and a minimal chat around them."""

from __future__ import annotations

import numpy as np
from PIL import Image

from actions.space import ActionSpace
from agent.models.base import GenerationRequest, ModelBackend
from prompts.messages import ChatMessage, ImagePart, TextPart

# A small image budget keeps the tiny model's steps cheap on the CPU.
MAX_PIXELS = 28 * 28 * 40


def screenshot(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def request_for(backend: ModelBackend, space: ActionSpace, image: Image.Image, task: str) -> GenerationRequest:
    messages = [
        ChatMessage.text("system", f"You are a helpful assistant.\n\n# Tools\n<tools>{space.tool_name}</tools>"),
        ChatMessage("user", (TextPart(task), ImagePart(image))),
    ]
    return GenerationRequest(messages, space, backend.image_budget.resized_size(*image.size))
