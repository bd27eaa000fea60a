"""Action schemas per action space, parsing of model text, coordinate geometry."""

from loguru import logger

logger.disable(__name__)  # a library's logs stay off until the application enables them (agent.logs)
