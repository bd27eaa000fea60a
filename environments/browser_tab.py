"""What one tab is doing that the next screenshot must wait for or show: requests in flight, an open JS
dialog, a file chooser waiting for a file."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from loguru import logger

from actions.text import clip

# A request open this long is a long poll, a stream or a hung server: the screen is not waiting for it.
LONG_LIVED_REQUEST = 1.0


@dataclass(frozen=True)
class OpenDialog:
    """A JS dialog on screen: `kind` is alert, confirm, prompt or beforeunload."""

    kind: str
    message: str
    default: str
    handle: Any  # Playwright's Dialog, to answer it where no X input can (headless)

    def describe(self) -> str:
        what = {"alert": "an alert", "confirm": "a confirmation", "prompt": "a question",
                "beforeunload": "a 'leave this page?' question"}.get(self.kind, "a dialog")
        return f"The page shows {what}: {clip(self.message, 300)!r}"


class TabWatch:
    """Listens to one Playwright page.

    Keeping a `dialog` listener is what stops Playwright from dismissing every dialog unseen; the dialog
    then stays open until answered, by X input on the screen or through `handle`. Chromium's own
    `javascriptDialogClosed` says when it is gone, however it was answered.
    """

    def __init__(self, page: Any) -> None:
        self.page = page
        self.dialog: OpenDialog | None = None
        self.chooser: Any = None  # Playwright's FileChooser, waiting for a file
        self._requests: dict[Any, float] = {}
        self.requests_seen = 0
        # A document loaded since the driver last waited for the screen (by a task's own page.goto, say):
        # Chromium drops input to a new document until it has drawn, so the next look or action waits first.
        self.navigated = False
        page.on("request", self._on_request)
        page.on("requestfinished", self._on_request_done)
        page.on("requestfailed", self._on_request_done)
        page.on("framenavigated", self._on_navigated)
        page.on("dialog", self._on_dialog)
        page.on("filechooser", self._on_chooser)
        try:
            self._cdp = page.context.new_cdp_session(page)
            self._cdp.on("Page.javascriptDialogClosed", self._on_dialog_closed)
            self._cdp.send("Page.enable")
        except Exception as exc:  # a tab that closed at once; nothing to watch
            logger.debug("no CDP session for the tab ({}); its dialogs are seen only when answered here", exc)
            self._cdp = None

    def _on_request(self, request: Any) -> None:
        self._requests[request] = time.monotonic()
        self.requests_seen += 1

    def _on_request_done(self, request: Any) -> None:
        self._requests.pop(request, None)

    def _on_navigated(self, frame: Any) -> None:
        if frame == self.page.main_frame:
            self.navigated = True

    def _on_dialog(self, dialog: Any) -> None:
        logger.debug("the page opened a {} dialog: {}", dialog.type, clip(dialog.message, 80))
        self.dialog = OpenDialog(dialog.type, dialog.message, dialog.default_value, dialog)

    def _on_dialog_closed(self, _event: dict[str, Any]) -> None:
        self.dialog = None

    def _on_chooser(self, chooser: Any) -> None:
        logger.debug("the page opened a file chooser (multiple={})", chooser.is_multiple())
        self.chooser = chooser

    def requests_pending(self) -> int:
        """Requests in flight that the screen may still be waiting for (long-lived ones left out)."""
        now = time.monotonic()
        return sum(1 for started in self._requests.values() if now - started < LONG_LIVED_REQUEST)

    def answer_dialog(self, accept: bool, text: str | None = None) -> None:
        """Answer the open dialog through Playwright (where it is not on a screen X input can reach)."""
        dialog, self.dialog = self.dialog, None
        if dialog is None:
            return
        if not accept:
            dialog.handle.dismiss()
        elif text is None:
            dialog.handle.accept()
        else:
            dialog.handle.accept(text)
