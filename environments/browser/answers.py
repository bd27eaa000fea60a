"""How the browser driver lets the model answer what the page asks outside itself: JS dialogs (drawn on the
virtual display, else answered by keys and typing) and file choosers (a typed path under the upload folder).
A part of BrowserEnvironment (see driver.py), kept apart for its size."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from loguru import logger

from actions.base import Action, Type
from actions.computer import Key
from actions.text import clip
from environments.base import ActionFailed
from environments.browser.tab import TabWatch
from environments.browser.touch import dialog_keys
from environments.keys import normalize_keys
from environments.x11.xinput import MULTI_CLICK_SECONDS

# Seconds from a page opening a dialog to Chromium showing it, at most, on a loaded machine.
DIALOG_SHOW_MARGIN = 0.2


class Answering:
    """BrowserEnvironment's answers to dialogs and file choosers (it holds the state they read)."""

    def _wait_out_click_protection(self) -> None:
        """Chromium ignores clicks on a dialog's buttons for a double-click time after it appears, so that a
        click meant for the page cannot answer it; a person is never that fast, a model on a GPU can be."""
        dialog = self.tab.dialog
        if self.mode == "virtual" and dialog is not None:
            # The dialog is shown a little after the page opens it; the margin covers that on a loaded machine.
            wait = dialog.opened_at + MULTI_CLICK_SECONDS + DIALOG_SHOW_MARGIN - time.monotonic()
            if wait > 0:
                time.sleep(wait)

    def _answered_here(self, action: Action) -> bool:
        """Answer a file chooser, or (off the virtual display) a JS dialog, with the model's action; True if
        the action went there rather than to the page."""
        tab = self._tabs.get(self._page)
        if tab is None:
            return False
        keys = normalize_keys(action.keys) if isinstance(action, Key) else dialog_keys(action)
        if tab.chooser is not None and isinstance(action, Type):
            self._choose_file(tab, action.text)
            return True
        if tab.chooser is not None and keys == ("escape",):
            tab.chooser = None
            self._notes.append("The file chooser was cancelled.")
            return True
        if tab.dialog is None or self.mode == "virtual":
            return False
        if isinstance(action, Type) and tab.dialog.kind == "prompt":
            self._guard(lambda: tab.answer_dialog(True, action.text.rstrip("\n")), "answering the dialog")
            return True
        if keys in (("enter",), ("escape",)):
            self._guard(lambda: tab.answer_dialog(keys == ("enter",)), "answering the dialog")
            return True
        raise ActionFailed(f"{tab.dialog.describe()}, not drawn on the screenshot; answer it first: "
                           f"{self._accept_or_dismiss}" + (", or type the answer" if tab.dialog.kind == "prompt"
                                                           else ""))

    @property
    def _accept_or_dismiss(self) -> str:
        if self.settings.touch:
            return "press system_button Enter to accept or Back to dismiss"
        return "press Enter to accept or Escape to dismiss"

    def _dialog_hint(self, kind: str) -> str:
        if self.mode == "virtual":
            return "; answer it on the screen."
        typed = "type the answer, then " if kind == "prompt" else ""
        return f" (not drawn on the screenshot); {typed}{self._accept_or_dismiss} it."

    def _refuse_chooser_if_uploads_off(self) -> None:
        tab = self._tabs.get(self._page)
        if tab is None or tab.chooser is None or self.settings.upload_dir is not None:
            return
        tab.chooser = None  # left unanswered, Chromium treats the chooser as cancelled
        self._notes.append("The page asked for a file to upload, but uploads are off (the agent was started "
                           "without --upload-dir), so no file can be chosen.")

    def _chooser_prompt(self, chooser: Any) -> str:
        root = self.settings.upload_dir
        assert root is not None  # a chooser with uploads off is refused as soon as it opens
        files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())[:10]
        listed = f" (for example: {', '.join(files)})" if files else " (the folder is empty)"
        many = "paths, one per line" if chooser.is_multiple() else "path"
        return (f"The page opened a file chooser: type the {many} of a file under {root}{listed} to upload it, "
                "or press Escape to cancel.")

    def _choose_file(self, tab: TabWatch, text: str) -> None:
        root = self.settings.upload_dir
        assert root is not None
        chosen: list[Path] = []
        for line in filter(None, (line.strip() for line in text.splitlines())):
            path = Path(line).expanduser()
            path = (path if path.is_absolute() else root / path).resolve()
            if not path.is_relative_to(root.resolve()) or not path.is_file():
                raise ActionFailed(f"{clip(line)!r} is not a file under the upload folder {root}; type the path of "
                                   "one of the files there, or press Escape to cancel")
            chosen.append(path)
        if not chosen:
            raise ActionFailed("no path was typed; type the path of a file under the upload folder, or press Escape")
        if len(chosen) > 1 and not tab.chooser.is_multiple():
            raise ActionFailed("this file chooser takes one file; type one path")
        chooser, tab.chooser = tab.chooser, None
        self._guard(lambda: chooser.set_files([str(p) for p in chosen]), "choosing the file")
        logger.info("uploaded {} file(s) from {}", len(chosen), root)
