"""The browser driver: Chromium driven through Playwright, kept off the network, one active tab at a time.

Driver space is the viewport in CSS pixels; screenshots are in device pixels (CSS px x device scale factor),
so `ScreenGeometry.scale` is the device scale factor. By default Chromium runs headed, in kiosk mode, on a
virtual X display the driver starts, with real X input and the X screen as the screenshot (see
`BrowserSettings.display`); Playwright still reads page state (URL, title, what lies under a point). The
Playwright sync API is used, so one environment belongs to the thread that created it and must not be used
inside a running asyncio loop.
"""

from __future__ import annotations

import base64
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from loguru import logger
from PIL import Image

from actions.base import Action, Answer, Terminate, Type
from actions.browser import with_scheme
from actions.computer import DoubleClick, Key, LeftClick, LeftClickDrag, MiddleClick, MouseMove, RightClick, Scroll
from actions.geometry import ScreenGeometry
from actions.space import BROWSER, MOBILE, ActionSpace
from actions.text import clip
from environments.base import ActionFailed, Dialog, EnvironmentUnavailable, Observation, ObservationExtras
from environments.browser.actions import BrowserInput, PageActions, PlaywrightInput
from environments.browser.errors import raise_for
from environments.browser.settings import BrowserSettings
from environments.browser.tab import TabWatch
from environments.browser.target import TEXT_AT_JS
from environments.browser.touch import TouchInput, dialog_keys, touch_handlers
from environments.browser.chromium import SharedPlaywright, launch_chromium
from environments.keys import normalize_keys
from environments.sites.server import LocalSite
from environments.x11.xinput import MULTI_CLICK_SECONDS, XInput
from environments.x11.xvfb import VirtualDisplay, find_xvfb

T = TypeVar("T")

# Chromium keeps a window at least this wide; a narrower viewport cannot fill the virtual screen exactly.
MIN_WINDOW_WIDTH = 500
# Seconds X input may take to reach the page, at most, on a loaded machine.
INPUT_TIMEOUT = 1.0
# Seconds from a page opening a dialog to Chromium showing it, at most, on a loaded machine.
DIALOG_SHOW_MARGIN = 0.2
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


class BrowserEnvironment:
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

    # ---- observe

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

    def _dialog_hint(self, kind: str) -> str:
        if self.mode == "virtual":
            return "; answer it on the screen."
        typed = "type the answer, then " if kind == "prompt" else ""
        return f" (not drawn on the screenshot); {typed}{self._accept_or_dismiss} it."

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

    # ---- file uploads

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

    def _check_point(self, point: tuple[int, int]) -> None:
        s = self.settings
        x, y = point
        if not (0 <= x < s.viewport_width and 0 <= y < s.viewport_height):
            raise ActionFailed(
                f"point ({x}, {y}) is outside the {s.viewport_width}x{s.viewport_height} viewport (CSS px); "
                "point at something shown on the screenshot"
            )

    # ---- settle

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

    def _settle_if_navigated(self) -> None:
        if self.tab.navigated:
            self._settle()

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
