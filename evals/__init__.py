"""AndroidWorld-style evaluation: tasks scored from real state, suites, a resumable runner, reports.

Start with `evals.runner.run_eval` (or `python -m evals --list`); tasks are defined in `evals.task`.
"""

from loguru import logger

logger.disable(__name__)  # a library's logs stay off until the application enables them (agent.logs)
