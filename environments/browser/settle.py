"""How the browser driver waits after an action until the screen shows its effect, as a person would see it:
the X input taken by the page, tabs it opened adopted, the page loaded and drawn, a native popup on the screen.
A part of BrowserEnvironment (see driver.py), kept apart for its size."""

from __future__ import annotations

import time
from typing import Any

from loguru import logger

from actions.base import Action, Type
from actions.computer import DoubleClick, Key, LeftClick, LeftClickDrag, MiddleClick, MouseMove, RightClick, Scroll
from environments.base import EnvironmentUnavailable
from environments.keys import normalize_keys

# Seconds X input may take to reach the page, at most, on a loaded machine.
INPUT_TIMEOUT = 1.0

# The DOM event a page receives last for each input action (environments.browser.tab counts them).
_LAST_INPUT_EVENT: dict[type[Action], str] = {
    LeftClick: "mouseup", RightClick: "mouseup", MiddleClick: "mouseup", DoubleClick: "mouseup",
    LeftClickDrag: "mouseup", MouseMove: "mousemove", Scroll: "wheel", Key: "keyup", Type: "keyup",
}

# Resolves once two frames have been drawn: the first frame after an action may still be in flight. An
# IntersectionObserver reports a new target in the next frame's rendering step, as requestAnimationFrame would
# run, but a page's fake clock (Playwright's, which MiniWoB++ pauses between actions) cannot hold it back.
_TWO_FRAMES_JS = """() => new Promise((done) => {
  const nextFrame = (then) => {
    const seen = new IntersectionObserver(() => { seen.disconnect(); then(); });
    seen.observe(document.documentElement);
  };
  nextFrame(() => nextFrame(() => done(true)));
})"""


class Settling:
    """BrowserEnvironment's waits after an action (it holds the state they read)."""

    def _settle(self) -> None:
        """Bounded wait so the next screenshot shows the action's effect, as a person would see it: tabs it
        opened adopted, the page loaded, no request in flight, and two animation frames drawn since."""
        s = self.settings
        if self._crashed is not None:
            raise EnvironmentUnavailable(f"the browser is gone ({self._crashed}); start a new episode with reset()")
        from playwright.sync_api import Error as PlaywrightError

        try:
            # Waiting through Playwright lets it deliver events, so a tab this action opened (or closed) is
            # adopted now. A page the action closed cannot wait: any other open one can.
            self._pump(s.settle_delay)
            deadline = time.monotonic() + s.settle_timeout
            while True:
                self._wait_for_new_tabs(deadline)
                self._ensure_started()
                self._wait_until_drawn(deadline)
                # A tab the action opens can appear a while after its input (later still on a loaded machine).
                if not self._tabs_pending() or time.monotonic() > deadline:
                    break
            self._wait_for_overlay(deadline)
            self._page_lent = False
        except PlaywrightError as exc:
            self._raise_for(exc, "waiting for the page to settle", timeout_is_fatal=False)

    def _settle_if_navigated(self) -> None:
        if self.tab.navigated:
            self._settle()

    def _input_expected(self, action: Action) -> tuple[str, int] | None:
        """On the virtual display, the input event the page receives last for `action`, and how many of it it
        will have seen then; None where the input goes elsewhere (a dialog, a popup) or cannot be counted."""
        tab = self.tab
        kind = _LAST_INPUT_EVENT.get(type(action))
        if (kind is None or self._xinput is None or not tab.listening or tab.dialog is not None
                or tab.chooser is not None or self._overlay_shown):
            return None
        if isinstance(action, Key):
            count = len(normalize_keys(action.keys))
        elif isinstance(action, Type):
            count = len(action.text)
        else:
            count = 2 if isinstance(action, DoubleClick) else 1
        return kind, tab.inputs[kind] + max(1, count)

    def _wait_for_input(self, kind: str, seen: int) -> None:
        """Until the page has received the X input just sent (Chromium takes it from the X server in its own
        time; on a loaded machine its effect could otherwise come after the screenshot), bounded. A popup or
        dialog the input opened takes the rest of it."""
        tab = self.tab
        deadline = time.monotonic() + min(self.settings.settle_timeout, INPUT_TIMEOUT)
        while tab.inputs[kind] < seen and time.monotonic() < deadline:
            if tab.dialog is not None or tab.page.is_closed() or (self._screen and self._screen.popup_shown()):
                return
            self._guard(lambda: self._pump(0.005), "waiting for the page to take the input")
        if tab.inputs[kind] < seen:
            logger.debug("the page did not report the {} input within {:.1f} s", kind, INPUT_TIMEOUT)

    def _wait_for_overlay(self, deadline: float) -> None:
        """On the virtual display, a popup (a `<select>` list, a picker) or a dialog is drawn by Chromium
        itself, outside the page's animation frames: wait until it is on the screen and has stopped fading in.
        One that just appeared must first change the screen: Chromium maps it a frame or more before drawing."""
        if self._screen is None:
            return
        overlay = self.tab.dialog is not None or self._screen.popup_shown()
        if overlay and not self._screen.wait_until_still(*self._screen_size(), deadline,
                                                         must_change=not self._overlay_shown):
            logger.debug("the popup or dialog on the screen did not stop changing within {:.1f} s",
                         self.settings.settle_timeout)
        self._overlay_shown = overlay

    def _wait_until_drawn(self, deadline: float) -> None:
        """Until the deadline: loaded, no request in flight, then two animation frames; again if a request
        started meanwhile. A dialog stops the page's scripts: what is on screen then is final."""
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        tab = self.tab
        tab.navigated = False
        while True:
            if tab.dialog is not None or tab.page.is_closed():
                return
            left = deadline - time.monotonic()
            if left <= 0:
                logger.debug("the page did not settle within {:.1f} s; observing it as it is",
                             self.settings.settle_timeout)
                return
            seen = tab.requests_seen
            try:
                tab.page.wait_for_load_state("load", timeout=min(left, 0.25) * 1000)
                if tab.requests_pending():
                    self._pump(0.01)
                    continue
                tab.page.wait_for_function(_TWO_FRAMES_JS, timeout=min(left, 0.25) * 1000)
            except PlaywrightTimeout:
                continue  # a slice ran out (a slow page, or a dialog opened meanwhile): look again
            except PlaywrightError:
                if not tab.page.is_closed() and self._browser.is_connected():
                    raise
                return  # the tab closed itself meanwhile; the next observe adopts another
            if tab.requests_seen == seen and not tab.requests_pending() and tab.dialog is None:
                return

    def _tabs_pending(self) -> bool:
        """A tab exists in Chromium that Playwright has not delivered yet, or delivered but not yet to
        `_adopt_page` (its page event waits for the next pump)."""
        pages = self._context.pages
        return bool(pages) and (len(pages) < len(self._tab_targets())
                                or any(p not in self._tabs and not p.is_closed() for p in pages))

    def _wait_for_new_tabs(self, deadline: float) -> None:
        while self._tabs_pending():
            if time.monotonic() > deadline:
                self._give_up_on_unloaded_tabs()
                return
            self._pump(0.02)

    def _tab_targets(self) -> list[dict[str, Any]]:
        """Chromium's tabs (Playwright launches it without a startup window, so all are ours) that may still
        become pages, as CDP's TargetInfo: all but those given up on that still have loaded nothing."""
        if self._cdp is None:
            return []
        targets = self._cdp.send("Target.getTargets")["targetInfos"]
        return [
            t for t in targets
            if t.get("type") == "page" and (t.get("url") or t.get("targetId") not in self._tabs_given_up)
        ]

    def _give_up_on_unloaded_tabs(self) -> None:
        # Playwright delivers a popup once its first navigation commits; until then Chromium reports its url
        # as "". A slow page and one Chromium blocked (a popup to a data: URL stays empty for good) look alike,
        # so each such tab is waited for one settle_timeout; should it commit later it has a url again.
        unloaded = {t["targetId"] for t in self._tab_targets() if not t.get("url")}
        if unloaded:
            logger.debug(
                "{} new tab(s) loaded no page within {:.1f} s (a popup Chromium blocked, or a very slow one); "
                "later actions do not wait for them",
                len(unloaded),
                self.settings.settle_timeout,
            )
            self._tabs_given_up |= unloaded

    def _pump(self, seconds: float) -> None:
        """Wait while letting Playwright deliver events, on whichever tab is still open."""
        from playwright.sync_api import Error as PlaywrightError

        for _ in range(3):
            pages = [p for p in (self._page, *self._context.pages) if p is not None and not p.is_closed()]
            if not pages:
                time.sleep(seconds)
                return
            try:
                pages[0].wait_for_timeout(seconds * 1000)
                return
            except PlaywrightError:
                if not self._browser.is_connected():
                    raise
                # The tab closed itself while we waited (window.close()): wait on another.
