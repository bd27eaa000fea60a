"""Chat messages as plain data: what prompts build and model backends consume."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class ImagePart:
    """A screenshot at native resolution; the backend resizes it with the model's own processor."""

    image: Image.Image


Part = TextPart | ImagePart
Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    parts: tuple[Part, ...]

    @classmethod
    def text(cls, role: Role, text: str) -> ChatMessage:
        return cls(role, (TextPart(text),))

    @property
    def images(self) -> list[Image.Image]:
        return [p.image for p in self.parts if isinstance(p, ImagePart)]

    def to_json(self) -> dict[str, object]:
        """A JSON-able view for recordings: images as placeholders with their size."""
        return {
            "role": self.role,
            "content": [
                {"type": "text", "text": p.text}
                if isinstance(p, TextPart)
                else {"type": "image", "size": list(p.image.size)}
                for p in self.parts
            ],
        }


def to_hf_messages(messages: list[ChatMessage]) -> tuple[list[dict[str, Any]], list[Any]]:
    """Our messages as the chat template's dicts, and their images in order (RGB, native resolution)."""
    hf_messages: list[dict[str, Any]] = []
    images: list[Any] = []
    for message in messages:
        content: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, TextPart):
                content.append({"type": "text", "text": part.text})
            elif isinstance(part, ImagePart):
                content.append({"type": "image"})
                images.append(part.image.convert("RGB") if part.image.mode != "RGB" else part.image)
        hf_messages.append({"role": message.role, "content": content})
    return hf_messages, images
