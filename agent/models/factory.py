"""One entry point from settings to a backend."""

from __future__ import annotations

from agent.models.base import ModelBackend, ModelError
from agent.models.settings import ModelSettings


def create_backend(settings: ModelSettings) -> ModelBackend:
    """An OpenAI-compatible client when `base_url` is an http(s) URL, else the local transformers backend.

    Imports are deferred so that using a server never imports torch.
    """
    if settings.base_url is not None and not settings.uses_server:
        raise ModelError(
            f"base_url {settings.base_url!r} is not an http:// or https:// URL; give the server's address, "
            "e.g. http://localhost:8000/v1, or leave it unset to run the model locally"
        )
    if settings.uses_server:
        from agent.models.openai_backend import OpenAIBackend

        return OpenAIBackend(settings)
    from agent.models.transformers_backend import TransformersBackend

    return TransformersBackend(settings)


__all__ = ["create_backend"]
