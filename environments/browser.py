"""The browser driver: Playwright driving a local Chromium, kept off the network, one active tab at a time.

Driver space is the viewport in CSS pixels; screenshots are in device pixels (CSS px x device scale factor),
so `ScreenGeometry.scale` is the device scale factor. The Playwright sync API is used, so one environment
belongs to the thread that created it and must not be used inside a running asyncio loop.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from loguru import logger
from PIL import Image

from actions.base import Action, Answer, Terminate
from actions.browser import with_scheme
from actions.geometry import ScreenGeometry
from actions.space import BROWSER, ActionSpace
from actions.text import clip
from environments.base import ActionFailed, EnvironmentUnavailable, Observation
from environments.browser_actions import PageActions
from environments.browser_errors import raise_for
from environments.browser_settings import BrowserSettings
from environments.browser_target import TEXT_AT_JS
from environments.chromium import SharedPlaywright, launch_chromium

T = TypeVar("T")


class BrowserEnvironment:
    """A Chromium browser as an Environment (action space: BROWSER).

    The browser starts on the first reset/observe/act; each reset opens a fresh context (no cookies, no
    history) on `start_url`. A click that opens a tab makes that tab the active one; closing the active tab
    falls back to the most recent remaining one.
    """

    action_space: ActionSpace = BROWSER

    def __init__(self, settings: BrowserSettings | None = None) -> None:
        self.settings = settings or BrowserSettings()
        self._pw: Any = None
        self._browser: Any = None
        self._context: Any = None
        self._page: Any = None
        self._crashed: str | None = None
        self._closing = False
        self._cdp: Any = None
        self._tabs_given_up: set[str] = set()  # CDP target ids of tabs _settle no longer waits for
        self._actions = PageActions(self.settings, lambda: self._page, self._guard)

    # ---- lifecycle

    def _start(self) -> None:
        from playwright.sync_api import Error as PlaywrightError

        self._pw = SharedPlaywright.acquire()
        self._closing = False
        try:
            self._browser = launch_chromium(self._pw, self.settings)
        except BaseException:
            self.close()
            raise
        self._browser.on("disconnected", lambda _: self._mark_crashed("the browser process exited"))
        # A browser-level CDP session sees a new tab the moment Chromium creates it, well before Playwright
        # reports it as a page; _settle uses it to wait for tabs an action opened, however slow the machine.
        try:
            self._cdp = self._browser.new_browser_cdp_session()
        except PlaywrightError as exc:
            logger.debug("no browser CDP session ({}); new tabs are only waited for settle_delay", exc)
            self._cdp = None

    def _new_context(self) -> None:
        s = self.settings
        if self._context is not None:
            try:
                self._context.close()
            except Exception as exc:  # a context of a dead browser: nothing left to release
                logger.debug("closing the old browser context failed: {}", exc)
        self._context = self._browser.new_context(
            viewport={"width": s.viewport_width, "height": s.viewport_height},
            device_scale_factor=s.device_scale_factor,
            locale=s.locale,
        )
        self._context.set_default_timeout(s.action_timeout * 1000)
        self._context.set_default_navigation_timeout(s.navigation_timeout * 1000)
        self._context.on("page", self._adopt_page)
        self._tabs_given_up.clear()
        self._page = None
        self._adopt_page(self._context.new_page())
        self._actions.mouse = (0.0, 0.0)

    def _adopt_page(self, page: Any) -> None:
        if page is self._page:
            return
        logger.debug("active tab is now {}", clip(page.url))
        page.on("crash", lambda _: self._mark_crashed("the tab's renderer crashed"))
        page.on("close", self._on_page_close)
        self._page = page
        self._actions.mouse = (0.0, 0.0)

    def _on_page_close(self, page: Any) -> None:
        if page is not self._page or self._context is None:
            return
        remaining = [p for p in self._context.pages if p is not page and not p.is_closed()]
        self._page = remaining[-1] if remaining else None

    def _mark_crashed(self, why: str) -> None:
        if self._crashed is None and not self._closing:
            logger.warning("browser environment lost: {}", why)
            self._crashed = why

    def _ensure_started(self) -> None:
        if self._crashed is not None:
            raise EnvironmentUnavailable(f"the browser is gone ({self._crashed}); start a new episode with reset()")
        if self._browser is None:
            self._start()
            self._guard(self._new_context, "opening a browser context")
            self._goto_start()
        if self._page is None or self._page.is_closed():
            # The active tab closed: carry on in the latest other one, or in a blank one if none is left.
            remaining = [p for p in self._context.pages if not p.is_closed()]
            self._adopt_page(remaining[-1] if remaining else self._guard(self._context.new_page, "opening a tab"))

    def _goto_start(self) -> None:
        try:
            self._guard(lambda: self._page.goto(with_scheme(self.settings.start_url)), "opening the start page")
        except ActionFailed as exc:
            raise EnvironmentUnavailable(f"the start page {self.settings.start_url!r} failed: {exc}") from exc

    def reset(self) -> Observation:
        if self._crashed is not None:
            self.close()
            self._crashed = None
        if self._browser is None:
            self._ensure_started()
        else:
            self._guard(self._new_context, "opening a browser context")
            self._goto_start()
        return self.observe()

    def close(self) -> None:
        self._closing = True
        self._cdp = None
        for name in ("_context", "_browser"):
            obj = getattr(self, name)
            setattr(self, name, None)
            if obj is not None:
                try:
                    obj.close()
                except Exception as exc:  # already dead; closing is best effort
                    logger.debug("closing {} failed: {}", name, exc)
        if self._pw is not None:
            self._pw = None
            SharedPlaywright.release()
        self._page = None

    def __enter__(self) -> BrowserEnvironment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def page(self) -> Any:
        """The active Playwright page (for tasks that read page state, and for calibration)."""
        self._ensure_started()
        return self._page

    # ---- observe

    def observe(self) -> Observation:
        self._ensure_started()
        page = self._page

        def shoot() -> bytes:
            return self._guard(
                lambda: page.screenshot(type="png", caret="initial", timeout=self.settings.action_timeout * 1000),
                "taking a screenshot",
                timeout_is_fatal=True,
            )

        try:
            png = shoot()
        except ActionFailed as exc:
            # Under heavy CPU load Chromium now and then answers "Unable to capture screenshot" once; a second
            # try after a short pause almost always works. A second failure is real.
            logger.debug("screenshot failed ({}); trying once more", exc)
            time.sleep(0.2)
            png = shoot()
        image = Image.open(io.BytesIO(png)).convert("RGB")
        geometry = ScreenGeometry(width=image.width, height=image.height, scale=self.settings.device_scale_factor)
        extras: dict[str, Any] = {"url": page.url, "title": self._title(page), "tabs": len(self._context.pages)}
        return Observation(screenshot=image, geometry=geometry, extras=extras)

    def _title(self, page: Any) -> str:
        try:
            return str(page.title())
        except Exception as exc:  # the page navigated away mid-call; the title is only informative
            logger.debug("reading the title failed: {}", exc)
            return ""

    def text_at(self, x: int, y: int) -> str | None:
        """What a person reads on the control a click at (x, y) (CSS pixels) activates, or None.

        An optional capability (agent.safety's TargetInspector) so a policy can judge a click by what it
        touches: see environments.browser_target for what is read. Never a password.
        """
        self._ensure_started()
        try:
            return self._page.evaluate(TEXT_AT_JS, [x, y])
        except Exception as exc:  # informative only: a page mid-navigation has no answer
            logger.debug("reading the text at ({}, {}) failed: {}", x, y, exc)
            return None

    # ---- act

    def act(self, action: Action) -> None:
        if isinstance(action, (Terminate, Answer)):
            raise ActionFailed(
                f"{action.action!r} ends the episode and is handled by the agent loop; it must not reach the driver"
            )
        handler = self._actions.handlers.get(type(action))
        if handler is None:
            raise ActionFailed(
                f"the browser cannot do {action.action!r}; use one of: {', '.join(self.action_space.tags)}"
            )
        self._ensure_started()
        for point in action.points():
            self._check_point(point)
        page = self._page
        try:
            handler(action)
        except ActionFailed:
            # The action closed its own tab (a button calling window.close()): Playwright then reports the
            # page as closed mid-click. That is the action's effect, not a failure; carry on in the tab left.
            if not (page.is_closed() and self._browser is not None and self._browser.is_connected()):
                raise
            logger.debug("the {} action closed its tab", action.action)
        self._settle()

    def _check_point(self, point: tuple[int, int]) -> None:
        s = self.settings
        x, y = point
        if not (0 <= x < s.viewport_width and 0 <= y < s.viewport_height):
            raise ActionFailed(
                f"point ({x}, {y}) is outside the {s.viewport_width}x{s.viewport_height} viewport (CSS px); "
                "point at something shown on the screenshot"
            )

    def _settle(self) -> None:
        """Bounded wait so the next screenshot shows the action's effect: a tab to open, a page to load."""
        s = self.settings
        if self._crashed is not None:
            raise EnvironmentUnavailable(f"the browser is gone ({self._crashed}); start a new episode with reset()")
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            # wait_for_timeout lets Playwright deliver events, so a tab this action opened (or closed) is
            # adopted now. A page the action closed cannot wait: any other open one can.
            self._pump(s.settle_delay)
            deadline = time.monotonic() + s.settle_timeout
            while self._context.pages and len(self._context.pages) < len(self._tab_targets()):
                if time.monotonic() > deadline:
                    self._give_up_on_unloaded_tabs()
                    break
                self._pump(0.05)  # a tab exists in Chromium that Playwright has not delivered yet
            self._ensure_started()
            for state in ("load", "networkidle"):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    self._page.wait_for_load_state(state, timeout=left * 1000)  # type: ignore[arg-type]
                except PlaywrightTimeout:
                    logger.debug("page not at {} within {:.1f} s; observing it as it is", state, s.settle_timeout)
                    break
                except PlaywrightError:
                    if self._page is not None and not self._page.is_closed() or not self._browser.is_connected():
                        raise
                    break  # the tab closed itself meanwhile; the next observe adopts another
        except PlaywrightError as exc:
            self._raise_for(exc, "waiting for the page to settle", timeout_is_fatal=False)

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

    # ---- errors

    def _guard(self, fn: Callable[[], T], what: str, timeout_is_fatal: bool = False) -> T:
        from playwright.sync_api import Error as PlaywrightError

        try:
            return fn()
        except PlaywrightError as exc:
            self._raise_for(exc, what, timeout_is_fatal)

    def _raise_for(self, exc: Exception, what: str, timeout_is_fatal: bool) -> NoReturn:
        gone = self._crashed is not None or (self._browser is not None and not self._browser.is_connected())
        raise_for(exc, what, gone=gone, timeout_is_fatal=timeout_is_fatal, mark_crashed=self._mark_crashed)
