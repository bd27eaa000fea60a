"""Which model produced a result: enough to tell two runs apart without loading any weights.

Results from another checkpoint, engine or image budget are not comparable, so every eval result and report
names the model, and a folder of results refuses a rerun with another one. The weights are identified by a
hash of their files' names and sizes, which reading a 16 GB checkpoint in full to hash its bytes would not
improve much: a fine-tune or a different quantisation changes the sizes or the file list.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from actions.geometry import ImageBudget
from agent.models.base import ModelError
from agent.models.loading import resolve_checkpoint
from agent.models.settings import ModelSettings


class ModelIdentity(BaseModel):
    """The model behind a run, as recorded in result.json, summary.json, index.html and eval.json."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(description="The model as asked for: a Hugging Face id, a folder, a served name, or a "
                       "reference agent (oracle, noop).")
    checkpoint: str | None = Field(default=None, description="The local folder it resolved to.")
    weights: str | None = Field(default=None, description="sha256 of the checkpoint's file list and sizes.")
    backend: str = Field(description="transformers, openai (a server), or a reference agent's name.")
    server: str | None = Field(default=None, description="The OpenAI-compatible server's base URL.")
    engine: str | None = Field(default=None, description="Local decoding: fast or generate.")
    min_pixels: int
    max_pixels: int

    def differs(self, other: ModelIdentity) -> list[str]:
        """The fields that tell `other` apart (the checkpoint folder may move; its weights hash may not)."""
        return [k for k in type(self).model_fields if k != "checkpoint" and getattr(self, k) != getattr(other, k)]

    def short(self) -> str:
        """One line for tables and logs."""
        parts = [self.model, self.backend]
        if self.engine:
            parts.append(f"engine {self.engine}")
        if self.weights:
            parts.append(f"weights {self.weights[:12]}")
        parts.append(f"pixels {self.min_pixels}..{self.max_pixels}")
        return " · ".join(parts)


def weights_fingerprint(directory: Path) -> str:
    """sha256 over every file's path (relative) and size; dot-folders (a download's .cache) are left out."""
    lines = []
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        lines.append(f"{rel.as_posix()}\t{path.stat().st_size}")  # stat follows the HF cache's symlinks to blobs
    if not lines:
        raise ModelError(f"{directory} holds no files; it is not a checkpoint")
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def checkpoint_image_budget(directory: Path) -> ImageBudget:
    """The pixel limits the checkpoint's preprocessor_config.json sets, as transformers reads them: the flat
    min_pixels/max_pixels of the released files win over `size`; with neither, transformers' class default."""
    path = directory / "preprocessor_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} cannot be read ({exc}); fetch the checkpoint again") from None
    size = config.get("size") or {}
    default = 1280 * 28 * 28  # Qwen2VLImageProcessor's own max_pixels when a config names none
    return ImageBudget(min_pixels=int(config.get("min_pixels") or size.get("shortest_edge") or 56 * 56),
                       max_pixels=int(config.get("max_pixels") or size.get("longest_edge") or default))


def identify(settings: ModelSettings) -> ModelIdentity:
    """The identity `create_backend(settings)` would load, read from the settings and the checkpoint's files."""
    if settings.uses_server:
        defaults = ImageBudget()  # what OpenAIBackend resizes to when the settings name no limits
        return ModelIdentity(model=settings.model, backend="openai", server=settings.base_url,
                             min_pixels=settings.min_pixels or defaults.min_pixels,
                             max_pixels=settings.max_pixels or defaults.max_pixels)
    directory = resolve_checkpoint(settings.model)
    budget = checkpoint_image_budget(directory)
    return ModelIdentity(model=settings.model, checkpoint=str(directory), weights=weights_fingerprint(directory),
                         backend="transformers", engine=settings.engine,
                         min_pixels=settings.min_pixels or budget.min_pixels,
                         max_pixels=settings.max_pixels or budget.max_pixels)


def reference_identity(name: str, budget: ImageBudget) -> ModelIdentity:
    """A backend with no weights (oracle, noop, replay): its name and the image budget it reports sizes in."""
    return ModelIdentity(model=name, backend=name, min_pixels=budget.min_pixels, max_pixels=budget.max_pixels)


__all__ = ["ModelIdentity", "checkpoint_image_budget", "identify", "reference_identity", "weights_fingerprint"]
