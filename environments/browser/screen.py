"""What the browser driver shows the model: the observation (the screenshot, the page's address and title, an
open dialog), and the text under a point for the safety policy. A part of BrowserEnvironment (see driver.py),
kept apart for its size."""

from __future__ import annotations

import base64
import io
import time
from typing import Any

from loguru import logger
from PIL import Image

from actions.geometry import ScreenGeometry
from actions.text import clip
from environments.base import ActionFailed, Dialog, EnvironmentUnavailable, Observation, ObservationExtras
from environments.browser.target import TEXT_AT_JS


class Observing:
    """BrowserEnvironment's observation and text under a point (it holds the state they read)."""

    def observe(self) -> Observation:
        self._ensure_started()
        self._settle_if_navigated()
        page, tab = self._page, self.tab
        url, tabs = page.url, len(self._context.pages)
        warnings = [*self._notes]
        dialog: Dialog | None = None
        title: str | None = None
        if tab.dialog is not None:
            # The page's scripts are stopped while a dialog is open: nothing may be evaluated in it now.
            dialog = Dialog(type=tab.dialog.kind, message=tab.dialog.message)
            warnings.append(tab.dialog.describe() + self._dialog_hint(tab.dialog.kind))
        else:
            # A round trip to the page, before the capture: Playwright delivers a crash it has seen meanwhile,
            # which an X screen capture alone would not notice.
            title = self._title(page)
            if self._screen is not None and self._page_lent:
                # What changed the page through `page()` since the last action (a task's script, its clock run
                # forward) is on the X screen only once Chromium has drawn it; a capture through CDP draws the
                # page itself, and after an action alone the settle has waited already.
                self._guard(lambda: self._wait_until_drawn(time.monotonic() + self.settings.settle_timeout),
                            "waiting for the page to draw")
                self._page_lent = False
        if tab.chooser is not None:
            warnings.append(self._chooser_prompt(tab.chooser))
        if self._crashed is not None:
            raise EnvironmentUnavailable(f"the browser is gone ({self._crashed}); start a new episode with reset()")
        image = self._capture(page)
        self._notes.clear()
        geometry = ScreenGeometry(width=image.width, height=image.height, scale=self.settings.device_scale_factor)
        extras = ObservationExtras(url=url, tabs=tabs, title=title, dialog=dialog)
        return Observation(screenshot=image, geometry=geometry, extras=extras, warnings=tuple(warnings))

    def _capture(self, page: Any) -> Image.Image:
        if self._screen is not None:
            return self._screen.grab(*self._screen_size())

        def shoot() -> bytes:
            # CDP's own capture, optimised for speed: the same pixels as Playwright's screenshot in half the time.
            cdp = self.tab._cdp
            if cdp is None:
                return self._guard(lambda: page.screenshot(type="png", caret="initial"), "taking a screenshot",
                                   timeout_is_fatal=True)
            # This session has none of Playwright's emulation: the clip's scale gives the device pixels.
            s = self.settings
            clip_box = {"x": 0, "y": 0, "width": s.viewport_width, "height": s.viewport_height,
                        "scale": s.device_scale_factor}
            shot = self._guard(lambda: cdp.send("Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True,
                                                                            "clip": clip_box}),
                               "taking a screenshot", timeout_is_fatal=True)
            return base64.b64decode(shot["data"])

        try:
            png = shoot()
        except ActionFailed as exc:
            # Under heavy CPU load Chromium now and then answers "Unable to capture screenshot" once; a second
            # try after a short pause almost always works. A second failure is real.
            logger.debug("screenshot failed ({}); trying once more", exc)
            time.sleep(0.2)
            png = shoot()
        return Image.open(io.BytesIO(png)).convert("RGB")

    def _title(self, page: Any) -> str:
        try:
            return str(page.title())
        except Exception as exc:  # noqa: BLE001 - the page navigated away mid-call; the title is only informative
            logger.debug("reading the title failed: {}", exc)
            return ""

    def text_at(self, x: int, y: int) -> str | None:
        """What a person reads on the control a click at (x, y) (CSS pixels) activates, or None.

        The TextAtPoint capability (environments.capabilities), so a policy can judge a click by what it
        touches: see environments.browser.target for what is read. Never a password. While a JS dialog is
        open, every click answers it: the dialog's text is what it touches.
        """
        self._ensure_started()
        dialog = self.tab.dialog
        if dialog is not None:
            return clip(dialog.message, 300)
        try:
            return self._page.evaluate(TEXT_AT_JS, [x, y])
        except Exception as exc:  # noqa: BLE001 - informative only: a page mid-navigation has no answer
            logger.debug("reading the text at ({}, {}) failed: {}", x, y, exc)
            return None
