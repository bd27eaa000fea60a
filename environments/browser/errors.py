"""Playwright's errors in the browser driver's terms: ActionFailed when the episode can go on,
EnvironmentUnavailable when the browser is gone."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

from actions.text import clip
from environments.base import ActionFailed, EnvironmentUnavailable


def raise_for(
    exc: Exception, what: str, *, gone: bool, timeout_is_fatal: bool, mark_crashed: Callable[[str], None]
) -> NoReturn:
    """Raise the driver error that `exc`, a Playwright error met while `what`, stands for.

    `gone` says the browser is already known to be dead; `mark_crashed` is told why when it is.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # Playwright's messages quote what they were given: a garbled 1000-character URL must not fill the log and
    # the model's feedback.
    message = clip(first_line(exc), 120)
    # Playwright's words for a dead renderer; a URL that merely contains "crash" must not match.
    if gone or "Target crashed" in message or "page crashed" in message:
        mark_crashed(message)
        raise EnvironmentUnavailable(
            f"the browser died while {what} ({message}); start a new episode with reset()"
        ) from exc
    if isinstance(exc, PlaywrightTimeout):
        if timeout_is_fatal:
            raise EnvironmentUnavailable(
                f"the page stopped responding while {what} ({message}); start a new episode with reset()"
            ) from exc
        raise ActionFailed(f"{what} did not finish in time ({message}); wait or try another action") from exc
    raise ActionFailed(f"{what} failed: {message}") from exc


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
