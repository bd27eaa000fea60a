"""`check_environment` over every driver, each on its real part: Chromium, an X display, a phone over real adb,
and the simulated phone the phone tasks run on."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from environments.android import AndroidEnvironment, AndroidSettings
from environments.base import Environment, Observation
from environments.browser import BrowserEnvironment, BrowserSettings
from environments.contract import ContractError, check_environment
from environments.desktop import DesktopEnvironment, DesktopSettings
from evals.phone.device import SimulatedPhoneEnvironment
from tests.support.adb import AdbServer

FAST_BROWSER = dict(navigation_timeout=3.0, settle_timeout=1.0, settle_delay=0.05)


def browser(display: str, touch: bool = False) -> Callable[[], Environment]:
    return lambda: BrowserEnvironment(BrowserSettings(display=display, touch=touch, **FAST_BROWSER))


@pytest.mark.parametrize("make", [browser("headless"), browser("virtual"), browser("headless", touch=True)],
                         ids=["browser-headless", "browser-virtual", "browser-touch"])
def test_the_browser_keeps_the_contract(make: Callable[[], Environment]) -> None:
    check_environment(make())


def test_the_desktop_keeps_the_contract(xvfb: str) -> None:
    check_environment(DesktopEnvironment(DesktopSettings(display=xvfb, settle_delay=0.0)))


def test_android_keeps_the_contract(adb_server: AdbServer, phone) -> None:
    check_environment(AndroidEnvironment(AndroidSettings(serial=phone.serial, adb_port=adb_server.port,
                                                         settle_delay=0.0)))


def test_the_simulated_phone_keeps_the_contract(adb_server: AdbServer) -> None:
    check_environment(SimulatedPhoneEnvironment(phone_size=(360, 800), adb_port=adb_server.port))


class _Lenient:
    """An environment that breaks the contract where drivers most easily do."""

    def __init__(self, inner: Environment) -> None:
        self.inner = inner
        self.action_space = inner.action_space

    def reset(self) -> Observation:
        return self.inner.reset()

    def observe(self) -> Observation:
        return self.inner.observe()

    def act(self, action: object) -> None:
        """Carries out nothing, so an off-screen point goes unrefused."""

    def close(self) -> None:
        """Never closes, so observe() goes on working."""


def test_a_broken_environment_is_reported_with_each_problem(xvfb: str) -> None:
    env = DesktopEnvironment(DesktopSettings(display=xvfb, settle_delay=0.0))
    try:
        with pytest.raises(ContractError) as found:
            check_environment(_Lenient(env))
    finally:
        env.close()
    message = str(found.value)
    assert message.startswith("_Lenient breaks the environment contract")
    assert "mouse_move at (1280, 0), right of the 1280x800 screen, was carried out" in message
    assert "observe() after close() returned an observation" in message
