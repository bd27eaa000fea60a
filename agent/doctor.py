"""`python -m agent doctor`: what is usable on this machine, and what to install for the rest."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

INSTALL_HINT = "run `bash scripts/install.sh` from the project folder"

Check = tuple[str, bool, str]


def _module(name: str, extra: str) -> Check:
    ok = importlib.util.find_spec(name) is not None
    return (f"python: {name}", ok, "installed" if ok else f"missing: pip install '.[{extra}]' or {INSTALL_HINT}")


def _display() -> Check:
    display = os.environ.get("DISPLAY")
    if not display:
        return ("display", False, "DISPLAY is not set: desktop needs an X server (e.g. `xvfb-run -a python -m agent ...`)")
    xdpyinfo = shutil.which("xdpyinfo")
    if xdpyinfo:
        ok = subprocess.run([xdpyinfo], capture_output=True, timeout=10).returncode == 0
        return ("display", ok, f"DISPLAY={display}" + ("" if ok else " does not answer"))
    return ("display", True, f"DISPLAY={display}")


def _chromium() -> Check:
    from environments.base import EnvironmentUnavailable
    from environments.browser.chromium import find_chromium

    try:
        return ("browser", True, str(find_chromium()))
    except EnvironmentUnavailable as e:
        return ("browser", False, str(e))


def _browser_display() -> Check:
    from environments.browser.driver import virtual_display_problem
    from environments.browser.settings import BrowserSettings

    why = virtual_display_problem(BrowserSettings())
    if why is None:
        return ("browser display", True, "virtual (its own Xvfb): native popups and dialogs are drawn and clickable")
    return ("browser display", False, f"headless only: {why}")


def _adb() -> Check:
    adb = shutil.which("adb")
    if not adb:
        return ("adb", False, f"adb not found: {INSTALL_HINT} (installs Debian's adb)")
    # `adb devices` starts a server when none runs and leaves it running; a check leaves the machine as it was.
    was_running = _adb_server_running()
    try:
        out = subprocess.run([adb, "devices"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return ("adb", False, f"{adb} did not answer: {e}")
    finally:
        if not was_running:
            subprocess.run([adb, "kill-server"], capture_output=True, timeout=20)
    devices = [line.split()[0] for line in out.splitlines()[1:] if line.strip()]
    return ("adb", True, f"{adb}; devices: {', '.join(devices) or 'none (try `python -m agent phone-sim`)'}")


def _adb_server_running() -> bool:
    """Whether an adb server listens where adb looks for one (ANDROID_ADB_SERVER_PORT, else 5037)."""
    given = os.environ.get("ANDROID_ADB_SERVER_PORT", "")
    port = int(given) if given.isdigit() else 5037  # adb itself refuses a port that is not a number
    try:
        socket.create_connection(("localhost", port), timeout=2).close()
    except OSError:
        return False
    return True


def _gpu() -> Check:
    try:
        import torch
    except ImportError:
        return ("gpu", False, f"torch is not installed: {INSTALL_HINT}")
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return ("gpu", True, ", ".join(names))
    return ("gpu", False, "no CUDA GPU: the model runs on the CPU (slow for real checkpoints)")


def _model(model: str) -> Callable[[], Check]:
    def check() -> Check:
        from agent.models.loading import resolve_checkpoint

        try:
            return ("model", True, str(resolve_checkpoint(model)))
        except Exception as e:  # noqa: BLE001 - the message is the answer
            return ("model", False, str(e))

    return check


def doctor(model: str | None = None) -> int:
    checks: list[Callable[[], Check]] = [
        lambda: _module("torch", "model"),
        lambda: _module("transformers", "model"),
        lambda: _module("xgrammar", "model"),
        lambda: _module("playwright", "browser"),
        lambda: _module("mss", "desktop"),
        lambda: _module("pyautogui", "desktop"),
        lambda: _module("adbutils", "android"),
        _display,
        _chromium,
        _browser_display,
        _adb,
        _gpu,
    ]
    if model:
        checks.append(_model(model))
    table = Table("part", "usable", "details")
    for check in checks:
        name, ok, details = check()
        table.add_row(name, "[green]yes[/]" if ok else "[red]no[/]", details)
    Console().print(table)
    return 0


def calibrate_command(env: object) -> int:
    from actions.geometry import ImageBudget
    from environments.calibration import calibrate

    try:
        report = calibrate(env, ImageBudget())
    finally:
        env.close()
    print(report.summary())
    return 0 if report.ok else 1
