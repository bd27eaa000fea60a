"""The model a run uses when none is named: `models/default`, a link that `fetch-model` (run by
scripts/install.sh) points at the released weights in the Hugging Face cache, or, on a machine that cannot
fetch them, at the tiny random-weight checkpoint, so the first command still runs end to end.

The one place that reaches the network is `fetch_default_model`, and only when asked to.
"""

from __future__ import annotations

import os
from pathlib import Path

from loguru import logger

DEFAULT_MODEL_ID = "Qwen/Qwen2.5-VL-7B-Instruct"
# Relative to the folder commands run in (the project's, in the README), like runs/.
DEFAULT_LINK = Path("models/default")
TINY_DIR = Path("models/tiny")
# make_tiny_model writes this model card; its tag tells a tiny checkpoint from real weights.
TINY_TAG = "qwen-gui-agent-tiny-random"
# How long to wait for huggingface.co before deciding the machine is offline.
HUB_TIMEOUT_S = 15.0


def default_model() -> Path | None:
    """Where `models/default` leads, or None when there is no usable link."""
    if DEFAULT_LINK.is_dir():
        return DEFAULT_LINK.resolve()
    return None


def is_tiny(directory: Path) -> bool:
    card = directory / "README.md"
    return card.is_file() and TINY_TAG in card.read_text(encoding="utf-8", errors="replace")


def _link_default(target: Path) -> None:
    DEFAULT_LINK.parent.mkdir(parents=True, exist_ok=True)
    temporary = DEFAULT_LINK.with_name(DEFAULT_LINK.name + ".new")
    temporary.unlink(missing_ok=True)
    # A folder inside models/ is linked relatively, so the project folder can move.
    inside = target.resolve().is_relative_to(DEFAULT_LINK.parent.resolve())
    temporary.symlink_to(target.resolve().relative_to(DEFAULT_LINK.parent.resolve()) if inside else target.resolve())
    temporary.replace(DEFAULT_LINK)  # atomic: a run starting meanwhile sees the old link or the new one


def _hub_size(model_id: str) -> int:
    """The bytes `model_id`'s files take on the Hub; raises when the Hub cannot be reached."""
    from huggingface_hub import HfApi

    info = HfApi().model_info(model_id, files_metadata=True, timeout=HUB_TIMEOUT_S)
    return sum(s.size or 0 for s in info.siblings or [])


def _use_tiny(reason: str) -> Path:
    from agent.models.tiny import make_tiny_model

    if not is_tiny(TINY_DIR):
        make_tiny_model(TINY_DIR)
    _link_default(TINY_DIR)
    print(f"{reason}\n  models/default is now the tiny random-weight model ({TINY_DIR}): runs work end to end, "
          f"but its actions are random.\n  Get real weights later with `python -m agent fetch-model` "
          f"(or `hf download {DEFAULT_MODEL_ID}`), or pass --model.")
    return TINY_DIR


def fetch_default_model(model_id: str = DEFAULT_MODEL_ID, download: bool = True) -> Path:
    """Point `models/default` at `model_id`: from the local cache, else downloaded (its size said first)
    when `download`, else (or when the Hub cannot be reached) at the tiny random-weight model."""
    from agent.models.base import ModelError
    from agent.models.loading import fetch_command, resolve_checkpoint

    try:
        found = resolve_checkpoint(model_id)
    except ModelError:
        found = None
    if found is not None:
        _link_default(found)
        print(f"models/default is {model_id} ({found})")
        return found
    current = default_model()
    if not download or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        if current is not None:
            print(f"models/default stays {current} (no download asked for)")
            return current
        return _use_tiny(f"{model_id} is not in the local Hugging Face cache and no download was asked for.")
    try:
        size = _hub_size(model_id)
    except Exception as exc:  # noqa: BLE001 - offline, a proxy, a typo in the id: all mean "not fetched now"
        logger.debug("the Hub did not answer for {}: {!r}", model_id, exc)
        if current is not None and not is_tiny(current):
            print(f"could not reach huggingface.co for {model_id} ({type(exc).__name__}); models/default stays "
                  f"{current}")
            return current
        return _use_tiny(f"could not reach huggingface.co to fetch {model_id} ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200] if str(exc) else 'no answer'}).")
    from huggingface_hub import snapshot_download
    from huggingface_hub.constants import HF_HUB_CACHE

    print(f"fetching {model_id}: {size / 1e9:.1f} GB into {HF_HUB_CACHE} (as `{fetch_command(model_id)}` does); "
          "Ctrl-C stops it and a rerun carries on")
    path = Path(snapshot_download(model_id))
    _link_default(path)
    print(f"models/default is {model_id} ({path})")
    return path
