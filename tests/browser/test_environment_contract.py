"""`check_environment` over every driver, each on its real part (Chromium, an X display, a phone over real adb,
the simulated phone the phone tasks run on), and capabilities found through wrappers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from environments.android.driver import AndroidEnvironment, AndroidSettings
from actions.space import MOBILE
from environments.base import Environment, EnvironmentWrapper, Observation, ObservationExtras
from environments.browser.driver import BrowserEnvironment, BrowserSettings
from environments.capabilities import MissingCapability, PageAccess, TextAtPoint, capability, find_capability
from environments.contract import ContractError, check_environment
from environments.desktop.driver import DesktopEnvironment, DesktopSettings
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


class _Lenient(EnvironmentWrapper):
    """An environment that breaks the contract where drivers most easily do."""

    def reset(self) -> Observation:
        """Builds its extras without validation, with a count as text."""
        return dataclasses.replace(self.inner.reset(), extras=ObservationExtras.model_construct(monitor="1"))

    def observe(self) -> Observation:
        """Fills its extras as a dict, with a key the model does not have."""
        extras = {"monitor": 1, "zoom": 2}
        return dataclasses.replace(self.inner.observe(), extras=extras)

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
    assert "reset(): the extras do not survive a JSON round trip" in message and "monitor" in message
    assert "observe(): the extras are a dict, not ObservationExtras" in message


def test_the_extras_take_only_their_typed_fields() -> None:
    with pytest.raises(ValidationError, match="zoom"):
        ObservationExtras(url="https://example.org/", zoom=2)
    with pytest.raises(ValidationError, match="tabs"):
        ObservationExtras(tabs="2")  # strict: recorded as given, never coerced
    with pytest.raises(ValidationError, match="frozen"):
        ObservationExtras().url = "https://example.org/"


class _Bare:
    """The protocol and no capability."""

    action_space = MOBILE

    def reset(self) -> Observation:
        raise NotImplementedError

    observe = reset

    def act(self, action: object) -> None: ...

    def close(self) -> None: ...


class _Reading(EnvironmentWrapper):
    def text_at(self, x: int, y: int) -> str | None:
        return f"read at {x},{y}"


def test_a_capability_is_found_through_wrappers_or_missed_with_a_clear_error() -> None:
    wrapped = EnvironmentWrapper(_Reading(_Bare()))
    assert wrapped.unwrapped.__class__ is _Bare
    assert capability(wrapped, TextAtPoint, "the safety policy").text_at(3, 4) == "read at 3,4"
    assert find_capability(wrapped, PageAccess) is None
    with pytest.raises(MissingCapability, match=r"^MiniWoB\+\+ tasks need PageAccess, which _Bare does not offer; "
                                                r"it is the browser's"):
        capability(wrapped, PageAccess, "MiniWoB++ tasks")
