"""Create an environment by name. Drivers are imported lazily: each needs only its own extra installed."""

from __future__ import annotations

from typing import Any

from environments.base import Environment

ENVIRONMENTS = ("browser", "desktop", "android")


class UnknownEnvironmentError(ValueError):
    pass


def create_environment(name: str, **options: Any) -> Environment:
    """`options` are the driver's settings fields; None values are left to the driver's defaults."""
    options = {k: v for k, v in options.items() if v is not None}
    if name == "browser":
        from environments.browser.driver import BrowserEnvironment, BrowserSettings

        return BrowserEnvironment(BrowserSettings(**options))
    if name == "desktop":
        from environments.desktop.driver import DesktopEnvironment, DesktopSettings

        return DesktopEnvironment(DesktopSettings(**options))
    if name == "android":
        from environments.android.driver import AndroidEnvironment, AndroidSettings

        return AndroidEnvironment(AndroidSettings(**options))
    raise UnknownEnvironmentError(f"unknown environment {name!r}; choose one of {', '.join(ENVIRONMENTS)}")
