"""One entry point from settings to a backend."""

from __future__ import annotations

from agent.models.base import ModelBackend, ModelError
from agent.models.loading import read_checkpoint_config, resolve_checkpoint
from agent.models.settings import ModelSettings


def check_model(settings: ModelSettings) -> None:
    """Refuse settings that cannot give a model, as far as that is known without loading one: a base_url that is
    not a server's, a local model that is not a Qwen2.5-VL checkpoint on this machine. Imports no torch, so a
    missing model is reported in a moment, before anything else starts."""
    if settings.base_url is not None and not settings.uses_server:
        raise ModelError(
            f"base_url {settings.base_url!r} is not an http:// or https:// URL; give the server's address, "
            "e.g. http://localhost:8000/v1, or leave it unset to run the model locally"
        )
    if not settings.uses_server:
        read_checkpoint_config(resolve_checkpoint(settings.model))


def create_backend(settings: ModelSettings) -> ModelBackend:
    """An OpenAI-compatible client when `base_url` is an http(s) URL, else the local transformers backend.

    Imports are deferred so that using a server never imports torch, nor does a model that is missing.
    """
    check_model(settings)
    if settings.uses_server:
        from agent.models.openai_backend import OpenAIBackend

        return OpenAIBackend(settings)
    from agent.models.transformers_backend import TransformersBackend

    return TransformersBackend(settings)


__all__ = ["check_model", "create_backend"]
