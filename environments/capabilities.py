"""Optional driver capabilities: what tasks, calibration, the oracle and the safety policy may ask a driver for,
beyond the four methods of the protocol.

A caller asks with `capability(env, PageAccess, "MiniWoB++ tasks")`: it looks through wrappers
(`EnvironmentWrapper`) down to the driver and answers the first that has the capability, or raises MissingCapability naming
the driver, the capability and who needed it. Drivers keep their handles (a Playwright page, an adb client)
private; these protocols are the part of them others may use.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar, runtime_checkable

from environments.android.shell import ShellResult
from environments.base import Environment, EnvironmentWrapper

C = TypeVar("C")


class MissingCapability(TypeError):
    """The environment cannot do what a caller needs (a MiniWoB++ task on a phone); choose another environment."""


@runtime_checkable
class PageAccess(Protocol):
    """The browser's: its active Playwright page, for tasks that set up and score pages, and for calibration.
    Whoever changes the page through it changes it outside the driver's actions; the driver then waits for the
    page to be drawn before its next screenshot."""

    def page(self) -> Any: ...


@runtime_checkable
class DeviceShell(Protocol):
    """Android's: shell commands on the device and files pushed to it, for tasks that set up and read a phone."""

    def shell(self, cmd: str) -> str:
        """The command's output (stdout and stderr); a refusal is not raised: read it with `run`."""
        ...

    def run(self, cmd: str) -> ShellResult:
        """The command's output and exit status."""
        ...

    def push_file(self, path: str, data: bytes) -> None:
        """Write `data` to `path` on the device."""
        ...


@runtime_checkable
class TextAtPoint(Protocol):
    """What a person reads on the control a click at a point (driver coordinates) activates, as the driver finds
    it: the browser from the page's layout and accessible names, Android from the accessibility tree; None when
    it cannot tell. Text painted into an image needs OCR: a wrapper can add it."""

    def text_at(self, x: int, y: int) -> str | None: ...


@runtime_checkable
class AppCatalog(Protocol):
    """Android's: the installed packages `open` chooses among, and the one it starts for a name."""

    def packages(self) -> list[str]: ...

    def app_package(self, name: str) -> str | None:
        """The package `open` starts for `name` (the user's app names, common names, package names), or None."""
        ...


# Which drivers offer each capability, for the message when one is missing.
_OFFERED_BY: dict[type, str] = {PageAccess: "the browser", DeviceShell: "Android", TextAtPoint: "the browser and Android",
                                AppCatalog: "Android"}


def find_capability(env: object, kind: type[C]) -> C | None:
    """The outermost layer of `env` (it, then what its wrappers wrap) that has capability `kind`, or None."""
    layer: object = env
    while layer is not None:
        if isinstance(layer, kind):
            return layer
        layer = layer.inner if isinstance(layer, EnvironmentWrapper) else None
    return None


def capability(env: Environment, kind: type[C], needed_by: str) -> C:
    """The outermost layer of `env` that has capability `kind`; MissingCapability, saying who needed it, if none."""
    found = find_capability(env, kind)
    if found is None:
        driver = type(env.unwrapped if isinstance(env, EnvironmentWrapper) else env).__name__
        raise MissingCapability(f"{needed_by} need {kind.__name__}, which {driver} does not offer; it is "
                                f"{_OFFERED_BY.get(kind, 'another driver')}'s, run them there")
    return found
