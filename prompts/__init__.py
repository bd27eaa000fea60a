"""System and user turns in Qwen2.5-VL's function-call format, per action space."""

from loguru import logger

logger.disable(__name__)  # a library's logs stay off until the application enables them (agent.logs)
