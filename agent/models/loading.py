"""Finding a Qwen2.5-VL checkpoint on this machine, and refusing anything that is not one.

Nothing here reaches the network: a Hugging Face id resolves from the local cache only (wherever
HF_HOME / HF_HUB_CACHE point), whatever HF_HUB_OFFLINE says. A missing model is one line that names the
command that fetches it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from loguru import logger

from agent.models.base import ModelError

QWEN2_5_VL_MODEL_TYPE = "qwen2_5_vl"
# The tokens the processor and the model must agree on, with the config field holding each id.
VISION_TOKENS: dict[str, str] = {
    "<|vision_start|>": "vision_start_token_id",
    "<|vision_end|>": "vision_end_token_id",
    "<|image_pad|>": "image_token_id",
    "<|video_pad|>": "video_token_id",
}
_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
TINY_MODEL_HINT = ("no weights yet? `python -m agent fetch-model` fetches the default ones when online; "
                   "`python -m agent make-tiny-model models/tiny` writes a tiny random-weight Qwen2.5-VL to try the "
                   "setup with (--model models/tiny)")


def fetch_command(model_id: str) -> str:
    """The shell command that puts `model_id` into the local cache (huggingface_hub's `hf` CLI)."""
    return f"hf download {model_id}"


def resolve_checkpoint(model: str) -> Path:
    """A local checkpoint directory for `model`: a directory path, or a Hugging Face id from the local cache."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve()
    # "org/name" is an id; anything else that is not an existing directory is a path that is missing.
    if model.startswith((".", "/", "~")) or not _HF_ID.match(model):
        raise ModelError(
            f"model directory {model!r} does not exist; pass an existing checkpoint directory or a Hugging Face "
            f"id such as Qwen/Qwen2.5-VL-7B-Instruct; {TINY_MODEL_HINT}"
        )
    return _from_cache(model)


def _from_cache(model_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.constants import HF_HUB_CACHE
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        # local_files_only: never download at run time, even when HF_HUB_OFFLINE is unset.
        snapshot = snapshot_download(model_id, local_files_only=True)
    except (LocalEntryNotFoundError, FileNotFoundError, OSError) as exc:
        logger.debug("{} not in the local cache: {!r}", model_id, exc)
        raise ModelError(
            f"model {model_id} is not in the local Hugging Face cache ({HF_HUB_CACHE}); "
            f"fetch it once with `{fetch_command(model_id)}` (or pass a checkpoint directory); {TINY_MODEL_HINT}"
        ) from None
    return Path(snapshot)


def read_checkpoint_config(directory: Path) -> dict[str, Any]:
    """config.json of a Qwen2.5-VL checkpoint with weights beside it; anything else is a ModelError."""
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise ModelError(f"{directory} has no config.json, so it is not a model checkpoint; point model at one")
    try:
        config = json.loads(config_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{config_file} cannot be read as JSON ({exc}); fetch the checkpoint again") from None
    model_type = config.get("model_type")
    if model_type != QWEN2_5_VL_MODEL_TYPE:
        raise ModelError(
            f"{directory} holds a {model_type or 'model of unknown type'} checkpoint, not Qwen2.5-VL "
            f"(config.json model_type must be {QWEN2_5_VL_MODEL_TYPE!r}); use a Qwen2.5-VL checkpoint"
        )
    if not any(directory.glob("*.safetensors")) and not any(directory.glob("*.bin")):
        raise ModelError(
            f"{directory} has a Qwen2.5-VL config but no weights (*.safetensors); the download is incomplete, "
            "fetch it again"
        )
    return config


def check_vision_tokens(tokenizer: Any, config: dict[str, Any], directory: Path) -> None:
    """The tokenizer must carry Qwen's vision tokens, with the ids the model's config expects."""
    vocab = tokenizer.get_vocab()
    missing = [t for t in VISION_TOKENS if t not in vocab]
    if missing:
        raise ModelError(
            f"the tokenizer in {directory} lacks Qwen2.5-VL's vision tokens {', '.join(missing)}; "
            "it is not a Qwen2.5-VL tokenizer, use the checkpoint's own tokenizer files"
        )
    for token, field in VISION_TOKENS.items():
        expected = config.get(field)
        if expected is not None and vocab[token] != expected:
            raise ModelError(
                f"the tokenizer in {directory} gives {token} id {vocab[token]} but config.json's {field} is "
                f"{expected}; the tokenizer and the weights come from different checkpoints"
            )


__all__ = ["VISION_TOKENS", "check_vision_tokens", "fetch_command", "read_checkpoint_config", "resolve_checkpoint"]
