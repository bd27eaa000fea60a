"""Drivers behind one protocol: a browser (Playwright), the desktop (mss + pyautogui), Android (adb).

    from environments import BrowserEnvironment, BrowserSettings

Each driver is imported when first named here, so a driver needs only its own extra installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from loguru import logger

if TYPE_CHECKING:  # the names for type checkers; "as" marks them exported
    from environments.android.driver import AndroidEnvironment as AndroidEnvironment
    from environments.android.driver import AndroidSettings as AndroidSettings
    from environments.base import ActionFailed as ActionFailed
    from environments.base import DriverError as DriverError
    from environments.base import Environment as Environment
    from environments.base import EnvironmentUnavailable as EnvironmentUnavailable
    from environments.base import Observation as Observation
    from environments.browser.driver import BrowserEnvironment as BrowserEnvironment
    from environments.browser.settings import BrowserSettings as BrowserSettings
    from environments.desktop.driver import DesktopEnvironment as DesktopEnvironment
    from environments.desktop.driver import DesktopSettings as DesktopSettings
    from environments.factory import create_environment as create_environment

logger.disable(__name__)  # a library's logs stay off until the application enables them (agent.logs)

_MODULE_OF = {
    "BrowserEnvironment": "environments.browser.driver", "BrowserSettings": "environments.browser.settings",
    "DesktopEnvironment": "environments.desktop.driver", "DesktopSettings": "environments.desktop.driver",
    "AndroidEnvironment": "environments.android.driver", "AndroidSettings": "environments.android.driver",
    "create_environment": "environments.factory", "Environment": "environments.base",
    "Observation": "environments.base", "DriverError": "environments.base", "ActionFailed": "environments.base",
    "EnvironmentUnavailable": "environments.base",
}
__all__ = list(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULE_OF[name]), name)
