"""What one tab is doing that the next screenshot must wait for or show: requests in flight, an open JS
dialog, a file chooser waiting for a file, the input events the page has received."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from loguru import logger

from actions.text import clip

# A request open this long is a long poll, a stream or a hung server: the screen is not waiting for it.
LONG_LIVED_REQUEST = 1.0

# X input reaches the page some time after the X server took it: the driver waits until the page has seen it,
# told by listeners in a world of their own, which the page's scripts can neither see nor stop.
_INPUT_WORLD = "agent-input"
_INPUT_BINDING = "__agentInputSeen"
_INPUT_LISTENER_JS = f"""(() => {{
  const seen = globalThis.{_INPUT_BINDING};
  if (!seen || globalThis.__agentListening) return;
  globalThis.__agentListening = true;
  seen("ready");
  for (const type of ["mousedown", "mouseup", "mousemove", "wheel", "keydown", "keyup"]) {{
    window.addEventListener(type, () => seen(type), {{capture: true, passive: true}});
  }}
}})()"""


@dataclass(frozen=True)
class OpenDialog:
    """A JS dialog on screen: `kind` is alert, confirm, prompt or beforeunload."""

    kind: str
    message: str
    default: str
    handle: Any  # Playwright's Dialog, to answer it where no X input can (headless)
    opened_at: float = 0.0  # time.monotonic() when the page opened it

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
        self.inputs: Counter[str] = Counter()  # input events the page has received, by DOM event type
        self.listening = False  # the listeners that count them are on the current document
        try:
            self._cdp = page.context.new_cdp_session(page)
            self._cdp.on("Page.javascriptDialogClosed", self._on_dialog_closed)
            self._cdp.on("Runtime.bindingCalled", self._on_binding)
            self._cdp.send("Page.enable")
            self._cdp.send("Runtime.enable")
            self._cdp.send("Runtime.addBinding", {"name": _INPUT_BINDING, "executionContextName": _INPUT_WORLD})
            self._cdp.send("Page.addScriptToEvaluateOnNewDocument",
                           {"source": _INPUT_LISTENER_JS, "worldName": _INPUT_WORLD, "runImmediately": True})
        except Exception as exc:  # noqa: BLE001 - a tab that closed at once; nothing to watch
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
            self.listening = False  # until the new document's listeners say "ready"

    def _on_dialog(self, dialog: Any) -> None:
        logger.debug("the page opened a {} dialog: {}", dialog.type, clip(dialog.message, 80))
        self.dialog = OpenDialog(dialog.type, dialog.message, dialog.default_value, dialog, time.monotonic())

    def _on_dialog_closed(self, _event: dict[str, Any]) -> None:
        self.dialog = None

    def _on_binding(self, event: dict[str, Any]) -> None:
        if event.get("name") != _INPUT_BINDING:
            return
        if event.get("payload") == "ready":
            self.listening = True
        else:
            self.inputs[str(event.get("payload"))] += 1

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
