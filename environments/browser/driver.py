"""The browser driver: Chromium driven through Playwright, kept off the network, one active tab at a time.

Driver space is the viewport in CSS pixels; screenshots are in device pixels (CSS px x device scale factor),
so `ScreenGeometry.scale` is the device scale factor. By default Chromium runs headed, in kiosk mode, on a
virtual X display the driver starts, with real X input and the X screen as the screenshot (see
`BrowserSettings.display`); Playwright still reads page state (URL, title, what lies under a point). The
Playwright sync API is used, so one environment belongs to the thread that created it and must not be used
inside a running asyncio loop.

The class is in parts: what it shows (screen.py), how it waits for the screen to follow an action (settle.py),
how dialogs and file choosers are answered (answers.py); this module holds its lifecycle, tabs and `act`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from loguru import logger

from actions.base import Action, Answer, Terminate
from actions.browser import with_scheme
from actions.space import BROWSER, MOBILE, ActionSpace
from actions.text import clip
from environments.base import ActionFailed, EnvironmentUnavailable, Observation
from environments.browser.actions import BrowserInput, PageActions, PlaywrightInput
from environments.browser.answers import Answering
from environments.browser.errors import raise_for
from environments.browser.screen import Observing
from environments.browser.settings import BrowserSettings
from environments.browser.settle import Settling
from environments.browser.tab import TabWatch
from environments.browser.touch import TouchInput, touch_handlers
from environments.browser.chromium import SharedPlaywright, launch_chromium
from environments.sites.server import LocalSite
from environments.x11.xinput import XInput
from environments.x11.xvfb import VirtualDisplay, find_xvfb

T = TypeVar("T")

# Chromium keeps a window at least this wide; a narrower viewport cannot fill the virtual screen exactly.
MIN_WINDOW_WIDTH = 500
# Chromium's own flags for the virtual display: no browser UI, and scrolling that ends when the wheel does.
VIRTUAL_ARGS = ("--kiosk", "--disable-smooth-scrolling")


def virtual_display_problem(settings: BrowserSettings) -> str | None:
    """Why `settings` cannot use the virtual display, or None when they can."""
    s = settings
    if not sys.platform.startswith("linux"):
        return "the virtual display needs Linux (X11)"
    if find_xvfb() is None:
        return "Xvfb is not installed (run `bash scripts/install.sh`, or `apt install xvfb`)"
    if s.viewport_width < MIN_WINDOW_WIDTH:
        return f"Chromium's windows are at least {MIN_WINDOW_WIDTH} CSS px wide, the viewport {s.viewport_width}"
    for side in (s.viewport_width, s.viewport_height):
        if abs(side * s.device_scale_factor - round(side * s.device_scale_factor)) > 1e-6:
            return (f"{side} CSS px x {s.device_scale_factor} is not a whole number of screen pixels; choose a "
                    "viewport and scale factor whose product is whole")
    return None


class BrowserEnvironment(Observing, Settling, Answering):
    """A Chromium browser as an Environment (action space: BROWSER, or MOBILE with `touch`: a phone).

    The browser starts on the first reset/observe/act; each reset opens a fresh context (no cookies, no
    history) on `start_url`. A click that opens a tab makes that tab the active one; closing the active tab
    falls back to the most recent remaining one.

    JS dialogs stay open until answered as a person would: on the virtual display they are drawn and take
    clicks and keys; elsewhere Enter accepts, Escape dismisses and `type` answers a prompt. A file chooser is
    answered by typing a path under `upload_dir`, or refused when uploads are off.
    """

    action_space: ActionSpace = BROWSER

    def __init__(self, settings: BrowserSettings | None = None) -> None:
        self.settings = settings or BrowserSettings()
        self.mode = self._resolve_mode()
        self._pw: Any = None
        self._browser: Any = None
        self._context: Any = None
        self._page: Any = None
        self._crashed: str | None = None
        self._closing = False
        self._closed = False  # close() was called: the environment is done for good
        self._cdp: Any = None
        self._screen: VirtualDisplay | None = None
        self._site: LocalSite | None = None
        self._overlay_shown = False  # a popup or dialog was on the virtual screen when it last settled
        # The page was handed out (`page()`) since the screen last settled: it may have changed unseen.
        self._page_lent = False
        self._xinput: Any = None
        self._tabs: dict[Any, TabWatch] = {}
        self._notes: list[str] = []  # what the model must be told at the next observation
        self._tabs_given_up: set[str] = set()  # CDP target ids of tabs _settle no longer waits for
        self._actions = PageActions(self.settings, lambda: self._page, self._guard, self._page_input())
        if self.settings.touch:
            self.action_space = MOBILE
            touch = TouchInput(lambda: self.tab._cdp, self._guard)
            self._actions.handlers = touch_handlers(self._actions, touch, self._home_address)

    def _page_input(self) -> PlaywrightInput:
        """Page-level input on the active tab: all of it off the virtual display, and its stand-in there
        until the display has started."""
        return PlaywrightInput(lambda: self._page, self._guard)

    def _resolve_mode(self) -> str:
        s = self.settings
        if s.display != "auto":
            if s.display == "virtual" and (why := virtual_display_problem(s)):
                raise EnvironmentUnavailable(f"the browser cannot use a virtual display: {why}; or choose "
                                             "display 'headless' (--browser-display headless)")
            return s.display
        why = virtual_display_problem(s)
        if why is None:
            return "virtual"
        logger.info("the browser runs headless ({}): the pointer cannot reach native popups such as a <select> "
                    "list or a date picker, and JS dialogs are not drawn", why)
        return "headless"

    # ---- lifecycle

    def _start(self) -> None:
        from playwright.sync_api import Error as PlaywrightError

        s = self.settings
        self._pw = SharedPlaywright.acquire()
        self._closing = False
        try:
            if self.mode == "virtual":
                w, h = self._screen_size()
                # Two spare pixels: Chromium will not make a window exactly as large as the screen.
                self._screen = VirtualDisplay(w + 2, h + 2, start_timeout=s.launch_timeout)
                self._browser = launch_chromium(
                    self._pw, s, headless=False, display=self._screen.name,
                    args=(*VIRTUAL_ARGS, f"--force-device-scale-factor={s.device_scale_factor}"))
                self._xinput = XInput(self._screen.name, s.device_scale_factor)
                self._actions.input = self._xinput
            else:
                self._browser = launch_chromium(self._pw, s, headless=self.mode == "headless")
        except BaseException:
            self._release()
            raise
        self._browser.on("disconnected", lambda _: self._mark_crashed("the browser process exited"))
        # A browser-level CDP session sees a new tab the moment Chromium creates it, well before Playwright
        # reports it as a page; _settle uses it to wait for tabs an action opened, however slow the machine.
        try:
            self._cdp = self._browser.new_browser_cdp_session()
        except PlaywrightError as exc:
            logger.debug("no browser CDP session ({}); new tabs are only waited for settle_delay", exc)
            self._cdp = None

    def _screen_size(self) -> tuple[int, int]:
        s = self.settings
        return round(s.viewport_width * s.device_scale_factor), round(s.viewport_height * s.device_scale_factor)

    @property
    def input(self) -> BrowserInput:
        return self._actions.input

    def _new_context(self) -> None:
        s = self.settings
        if self._context is not None:
            try:
                self._context.close()
            except Exception as exc:  # noqa: BLE001 - a context of a dead browser: nothing left to release
                logger.debug("closing the old browser context failed: {}", exc)
        # A phone has a touchscreen (touch events on, `pointer: coarse`) but keeps the desktop layout:
        # is_mobile would lay a page without a viewport tag, as MiniWoB++'s, out 980 px wide and shrink it.
        options: dict[str, Any] = {"locale": s.locale, "has_touch": s.touch}
        if self.mode == "virtual":
            options["no_viewport"] = True  # the window, sized to the screen, is the viewport
        else:
            options.update(viewport={"width": s.viewport_width, "height": s.viewport_height},
                           device_scale_factor=s.device_scale_factor)
        self._context = self._browser.new_context(**options)
        self._context.set_default_timeout(s.action_timeout * 1000)
        self._context.set_default_navigation_timeout(s.navigation_timeout * 1000)
        self._context.on("page", self._adopt_page)
        self._tabs_given_up.clear()
        self._overlay_shown = False
        self._tabs.clear()
        self._notes.clear()
        self._page = None
        self._adopt_page(self._context.new_page())
        self._park_pointer()

    def _park_pointer(self) -> None:
        """Start each episode with the pointer off the page, so nothing on it shows a hover from the last one:
        on the virtual display, in the spare pixels right of and below the window; elsewhere at (0, 0), where
        Playwright's page-level mouse starts."""
        if self._xinput is None:
            self.input.position = (0.0, 0.0)
            return
        w, h = self._screen_size()
        scale = self.settings.device_scale_factor
        self._xinput.move((w + 1) / scale, (h + 1) / scale)

    def _adopt_page(self, page: Any) -> None:
        if page is self._page:
            return
        logger.debug("active tab is now {}", clip(page.url))
        if page not in self._tabs:
            page.on("crash", lambda _: self._mark_crashed("the tab's renderer crashed"))
            page.on("close", self._on_page_close)
            self._tabs[page] = TabWatch(page)
        self._page = page
        if self.mode == "virtual":
            self._fit_window(page)

    def _fit_window(self, page: Any) -> None:
        """Make the tab's window fill the screen at (0, 0) with no browser UI, and bring it to the front.

        Without a window manager a window keeps the size it was made with; setting the bounds, then the
        fullscreen state (which in kiosk mode hides all UI), gives exactly the viewport's size."""
        s = self.settings
        try:
            cdp = page.context.new_cdp_session(page)
            try:
                window = cdp.send("Browser.getWindowForTarget")["windowId"]
                bounds = {"left": 0, "top": 0, "width": s.viewport_width, "height": s.viewport_height}
                cdp.send("Browser.setWindowBounds", {"windowId": window, "bounds": {"windowState": "normal"}})
                cdp.send("Browser.setWindowBounds", {"windowId": window, "bounds": bounds})
                cdp.send("Browser.setWindowBounds", {"windowId": window, "bounds": {"windowState": "fullscreen"}})
            finally:
                cdp.detach()
            page.bring_to_front()
        except Exception as exc:  # noqa: BLE001 - a tab that closed at once
            logger.debug("fitting the tab's window to the screen failed: {}", exc)

    def _on_page_close(self, page: Any) -> None:
        self._tabs.pop(page, None)
        if page is not self._page or self._context is None:
            return
        remaining = [p for p in self._context.pages if p is not page and not p.is_closed()]
        self._page = None
        if remaining:
            self._adopt_page(remaining[-1])

    def _mark_crashed(self, why: str) -> None:
        if self._crashed is None and not self._closing:
            logger.warning("browser environment lost: {}", why)
            self._crashed = why

    def _ensure_started(self) -> None:
        if self._closed:
            raise EnvironmentUnavailable("this BrowserEnvironment was closed; create a new one")
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

    def _start_address(self) -> str:
        if self.settings.site is None:
            return with_scheme(self.settings.start_url)
        if self._site is None:
            self._site = LocalSite(self.settings.site)
        return self._site.url

    def _home_address(self) -> str | None:
        """Where a phone's Home goes: the start page, unless that is a blank one (a task loads its own page)."""
        address = self._start_address()
        return None if address == "about:blank" else address

    def _goto_start(self) -> None:
        address = self._start_address()
        try:
            self._guard(lambda: self._page.goto(address), "opening the start page")
        except ActionFailed as exc:
            raise EnvironmentUnavailable(f"the start page {address!r} failed: {exc}") from exc
        self._settle()

    def reset(self) -> Observation:
        if self._crashed is not None:
            self._release()
            self._crashed = None
        if self._browser is None:
            self._ensure_started()
        else:
            self._guard(self._new_context, "opening a browser context")
            self._goto_start()
        return self.observe()

    def close(self) -> None:
        self._closed = True
        self._release()

    def _release(self) -> None:
        """Stop the browser and everything started with it; a reset() after a crash starts them again."""
        self._closing = True
        self._cdp = None
        self._tabs.clear()
        for name in ("_context", "_browser"):
            obj = getattr(self, name)
            setattr(self, name, None)
            if obj is not None:
                try:
                    obj.close()
                except Exception as exc:  # noqa: BLE001 - already dead; closing is best effort
                    logger.debug("closing {} failed: {}", name, exc)
        if self._pw is not None:
            self._pw = None
            SharedPlaywright.release()
        if self._xinput is not None:
            self._xinput.close()
            self._xinput = None
            self._actions.input = self._page_input()
        if self._screen is not None:
            self._screen.close()
            self._screen = None
        if self._site is not None:
            self._site.close()
            self._site = None
        self._page = None

    def __enter__(self) -> BrowserEnvironment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def page(self) -> Any:
        """The active Playwright page: the PageAccess capability (environments.capabilities). Whoever takes it
        may change the page outside the driver's actions (a task's setup, its clock), so on the virtual display
        the next screenshot first waits until Chromium has drawn it."""
        self._ensure_started()
        self._page_lent = True
        return self._page

    @property
    def tab(self) -> TabWatch:
        """What the active tab is doing: its open dialog, file chooser, requests in flight."""
        self._ensure_started()
        return self._tabs[self._page]

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
        self._settle_if_navigated()
        if action.points():
            self._wait_out_click_protection()
        page = self._page
        expected = self._input_expected(action)
        if not self._answered_here(action):
            try:
                handler(action)
                if expected is not None:
                    self._wait_for_input(*expected)
            except ActionFailed:
                # The action closed its own tab (a button calling window.close()): Playwright then reports the
                # page as closed mid-click. That is the action's effect, not a failure; carry on in the tab left.
                if not (page.is_closed() and self._browser is not None and self._browser.is_connected()):
                    raise
                logger.debug("the {} action closed its tab", action.action)
        self._settle()
        self._refuse_chooser_if_uploads_off()

    def _check_point(self, point: tuple[int, int]) -> None:
        s = self.settings
        x, y = point
        if not (0 <= x < s.viewport_width and 0 <= y < s.viewport_height):
            raise ActionFailed(
                f"point ({x}, {y}) is outside the {s.viewport_width}x{s.viewport_height} viewport (CSS px); "
                "point at something shown on the screenshot"
            )

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

