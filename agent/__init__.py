"""A GUI and phone agent around a locally hosted Qwen2.5-VL; the library's surface:

    from agent import Agent, AgentConfig, ModelSettings, create_backend
    from environments import BrowserEnvironment, BrowserSettings

Names are imported when first used, so `import agent` loads neither torch nor a driver. Logs are off unless
the application turns them on (`enable_logs()`, or loguru's `logger.enable("agent")`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from loguru import logger

if TYPE_CHECKING:  # the names for type checkers; "as" marks them exported
    from agent.config import AgentConfig as AgentConfig
    from agent.logs import enable_logs as enable_logs
    from agent.loop import Agent as Agent
    from agent.models.base import ModelError as ModelError
    from agent.models.factory import create_backend as create_backend
    from agent.models.settings import ModelSettings as ModelSettings
    from agent.safety import Safety as Safety
    from agent.safety import SafetyPolicy as SafetyPolicy
    from agent.safety import Secrets as Secrets
    from agent.trajectory import EpisodeResult as EpisodeResult
    from agent.trajectory import StepRecord as StepRecord

logger.disable(__name__)  # a library's logs stay off until the application enables them (agent.logs)

_MODULE_OF = {
    "Agent": "agent.loop", "AgentConfig": "agent.config", "EpisodeResult": "agent.trajectory",
    "StepRecord": "agent.trajectory", "ModelSettings": "agent.models.settings",
    "create_backend": "agent.models.factory", "ModelError": "agent.models.base", "Safety": "agent.safety",
    "SafetyPolicy": "agent.safety", "Secrets": "agent.safety", "enable_logs": "agent.logs",
}
__all__ = list(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULE_OF[name]), name)
