"""Finding and launching the browser driver's Chromium, kept off the network, and the Playwright that runs it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from loguru import logger

from environments.base import EnvironmentUnavailable
from environments.browser.errors import first_line
from environments.browser.settings import BrowserSettings

# Flags that keep Chromium off the network (no update, sync, QUIC or background fetches) and let it run as
# root in containers (no sandbox) and on machines without a GPU.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-breakpad",
    "--disable-domain-reliability",
    "--metrics-recording-only",
)

CHROMIUM_NAMES: tuple[str, ...] = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

INSTALL_HINT = (
    "run `bash scripts/install.sh` from the project folder, or install Chromium (Debian/Ubuntu: "
    "`apt install chromium`; with internet: `playwright install chromium`), or set --browser-path to a Chromium binary"
)


def find_chromium(explicit: Path | None = None, playwright_path: str | None = None) -> Path:
    """Which Chromium to run: `explicit`, else Playwright's own download, else one on PATH."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file() or not os.access(path, os.X_OK):
            raise EnvironmentUnavailable(
                f"Chromium executable {str(path)!r} does not exist or is not executable; fix "
                f"--browser-path (BrowserSettings.executable_path) or leave it unset to search for one ({INSTALL_HINT})"
            )
        return path
    if playwright_path and Path(playwright_path).is_file():
        return Path(playwright_path)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise EnvironmentUnavailable(
        f"no Chromium found: Playwright's browsers are not installed and none of {', '.join(CHROMIUM_NAMES)} "
        f"is on PATH; {INSTALL_HINT}"
    )


def launch_chromium(pw: Any, settings: BrowserSettings, *, headless: bool, display: str | None = None,
                    args: tuple[str, ...] = ()) -> Any:
    """Launch the Chromium that `settings` name through Playwright `pw` and return Playwright's Browser.

    `display` is the X display a headed Chromium draws on (None: the user's $DISPLAY); `args` come after
    ours and before the user's `extra_args`."""
    from playwright.sync_api import Error as PlaywrightError

    s = settings
    try:
        try:
            own = pw.chromium.executable_path
        except PlaywrightError:
            own = None
        exe = find_chromium(s.executable_path, own)
        logger.info("starting Chromium {} ({})", exe, "headless" if headless else f"on display {display or '$DISPLAY'}")
        return pw.chromium.launch(
            executable_path=str(exe),
            headless=headless,
            args=[*CHROMIUM_ARGS, *args, *s.extra_args],
            env={**os.environ, "DISPLAY": display} if display else None,
            timeout=s.launch_timeout * 1000,
            # Chromium runs in its own process group; a Ctrl-C meant for the agent must not close it: the agent
            # ends the episode and closes the browser itself.
            handle_sigint=False,
        )
    except PlaywrightError as exc:
        raise EnvironmentUnavailable(
            f"Chromium could not start: {first_line(exc)}; check that the binary runs "
            f"(`{s.executable_path or 'chromium'} --headless --no-sandbox --dump-dom about:blank`) "
            f"or {INSTALL_HINT}"
        ) from exc


@contextlib.contextmanager
def _in_own_session() -> Iterator[None]:
    """Start Playwright's driver process in a session of its own.

    A terminal's Ctrl-C goes to its whole foreground process group. Playwright's node driver would be in
    ours and die of it, and Chromium, whose only link is the driver, with it, before the agent could end the
    episode as documented. Playwright has no option for this, so its one subprocess call is given
    start_new_session for the moment it starts; the driver still exits when our end of its pipe closes.
    """
    original = asyncio.create_subprocess_exec

    def own_session(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("start_new_session", True)
        return original(*args, **kwargs)

    asyncio.create_subprocess_exec = own_session
    try:
        yield
    finally:
        asyncio.create_subprocess_exec = original


class SharedPlaywright:
    """One Playwright per thread, shared by that thread's environments.

    Playwright's sync API refuses a second instance in a thread while one runs, so environments in the
    same thread (a test's episode next to a long-lived one, a calibration beside an agent) share it; it
    stops when the last of them closes.
    """

    _local = threading.local()

    @classmethod
    def acquire(cls) -> Any:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright

        if getattr(cls._local, "count", 0) == 0:
            try:
                with _in_own_session():
                    cls._local.pw = sync_playwright().start()
            except PlaywrightError as exc:
                raise EnvironmentUnavailable(
                    f"Playwright could not start: {first_line(exc)}; the browser driver uses Playwright's sync API, "
                    "so create it outside a running asyncio loop (in a worker thread if need be)"
                ) from exc
            cls._local.count = 0
        cls._local.count += 1
        return cls._local.pw

    @classmethod
    def release(cls) -> None:
        cls._local.count -= 1
        if cls._local.count == 0:
            pw, cls._local.pw = cls._local.pw, None
            try:
                pw.stop()
            except Exception as exc:  # noqa: BLE001 - best effort: the driver process may already be gone
                logger.debug("stopping Playwright failed: {}", exc)
