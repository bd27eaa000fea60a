"""The browser driver: Playwright driving a local Chromium, kept off the network, one active tab at a time.

Driver space is the viewport in CSS pixels; screenshots are in device pixels (CSS px x device scale factor),
so `ScreenGeometry.scale` is the device scale factor. The Playwright sync API is used, so one environment
belongs to the thread that created it and must not be used inside a running asyncio loop.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from loguru import logger
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from actions.base import Action, Answer, Terminate, Type, Wait
from actions.browser import Back, Forward, Navigate
from actions.computer import (
    DoubleClick,
    Key,
    LeftClick,
    LeftClickDrag,
    MiddleClick,
    MouseMove,
    RightClick,
    Scroll,
)
from actions.geometry import ScreenGeometry
from actions.space import BROWSER, ActionSpace
from environments.base import ActionFailed, EnvironmentUnavailable, Observation
from environments.keys import normalize_keys, to_playwright

T = TypeVar("T")

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


class BrowserSettings(BaseModel):
    """How to start and drive the browser. Times are in seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    executable_path: Path | None = Field(
        default=None, description="Chromium binary; None finds one (Playwright's own, then chromium on PATH)."
    )
    headless: bool = True
    viewport_width: int = Field(default=1280, ge=64, le=7680)
    viewport_height: int = Field(default=800, ge=64, le=4320)
    device_scale_factor: float = Field(default=1.0, gt=0, le=4)
    start_url: str = "about:blank"
    navigation_timeout: float = Field(default=15.0, gt=0, description="Bound on goto/back/forward and reset.")
    action_timeout: float = Field(default=10.0, gt=0, description="Bound on a screenshot and on other page calls.")
    settle_timeout: float = Field(
        default=3.0, ge=0, description="After each action, wait at most this long for load and network idle."
    )
    settle_delay: float = Field(
        default=0.1, ge=0, description="Pause after each action so new tabs, navigations and paints can start."
    )
    drag_steps: int = Field(default=8, ge=1, description="Mouse moves between press and release of a drag.")
    extra_args: tuple[str, ...] = ()
    locale: str = "en-US"


def find_chromium(explicit: Path | None = None, playwright_path: str | None = None) -> Path:
    """Which Chromium to run: `explicit`, else Playwright's own download, else one on PATH."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file() or not os.access(path, os.X_OK):
            raise EnvironmentUnavailable(
                f"Chromium executable {str(path)!r} does not exist or is not executable; fix "
                f"BrowserSettings.executable_path or leave it unset to search for one ({INSTALL_HINT})"
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


def _with_scheme(url: str) -> str:
    """Models often write "example.com": give such addresses a scheme Chromium can open."""
    url = url.strip()
    if "://" in url or url.startswith(("about:", "data:", "javascript:", "chrome:", "file:", "blob:")):
        return url
    host = url.split("/", 1)[0]
    local = host.startswith(("localhost", "127.", "[::1]")) or host.split(":", 1)[0].replace(".", "").isdigit()
    return ("http://" if local else "https://") + url


class _SharedPlaywright:
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
                cls._local.pw = sync_playwright().start()
            except PlaywrightError as exc:
                raise EnvironmentUnavailable(
                    f"Playwright could not start: {_first_line(exc)}; the browser driver uses Playwright's sync API, "
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
            except Exception as exc:  # best effort: the driver process may already be gone
                logger.debug("stopping Playwright failed: {}", exc)


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
        # Playwright's mouse has no getter; actions without a coordinate act where the last one left it.
        self._mouse: tuple[float, float] = (0.0, 0.0)

    # ---- lifecycle

    def _start(self) -> None:
        from playwright.sync_api import Error as PlaywrightError

        s = self.settings
        self._pw = _SharedPlaywright.acquire()
        self._closing = False
        try:
            try:
                own = self._pw.chromium.executable_path
            except PlaywrightError:
                own = None
            exe = find_chromium(s.executable_path, own)
            logger.info("starting Chromium {} (headless={})", exe, s.headless)
            self._browser = self._pw.chromium.launch(
                executable_path=str(exe),
                headless=s.headless,
                args=[*CHROMIUM_ARGS, *s.extra_args],
                timeout=s.navigation_timeout * 1000,
            )
        except PlaywrightError as exc:
            self.close()
            raise EnvironmentUnavailable(
                f"Chromium could not start: {_first_line(exc)}; check that the binary runs "
                f"(`{s.executable_path or 'chromium'} --headless --no-sandbox --dump-dom about:blank`) "
                f"or {INSTALL_HINT}"
            ) from exc
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
        self._page = None
        self._adopt_page(self._context.new_page())
        self._mouse = (0.0, 0.0)

    def _adopt_page(self, page: Any) -> None:
        if page is self._page:
            return
        logger.debug("active tab is now {}", page.url)
        page.on("crash", lambda _: self._mark_crashed("the tab's renderer crashed"))
        page.on("close", self._on_page_close)
        self._page = page
        self._mouse = (0.0, 0.0)

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
            self._guard(lambda: self._page.goto(_with_scheme(self.settings.start_url)), "opening the start page")
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
            _SharedPlaywright.release()
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
        """The visible text of what lies at (x, y) in CSS pixels, or None.

        An optional capability (agent.safety's TargetInspector) so a policy can judge a click by what it
        touches. It reads the nearest interactive ancestor of the element there, and never a password.
        """
        self._ensure_started()
        try:
            return self._page.evaluate(_TEXT_AT_JS, [x, y])
        except Exception as exc:  # informative only: a page mid-navigation has no answer
            logger.debug("reading the text at ({}, {}) failed: {}", x, y, exc)
            return None

    # ---- act

    def act(self, action: Action) -> None:
        if isinstance(action, (Terminate, Answer)):
            raise ActionFailed(
                f"{action.action!r} ends the episode and is handled by the agent loop; it must not reach the driver"
            )
        handler = self._handlers().get(type(action))
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

    def _handlers(self) -> dict[type[Action], Callable[[Any], None]]:
        return {
            Key: self._key,
            Type: self._type,
            MouseMove: self._mouse_move,
            LeftClick: lambda a: self._click(a, "left", 1),
            RightClick: lambda a: self._click(a, "right", 1),
            MiddleClick: lambda a: self._click(a, "middle", 1),
            DoubleClick: lambda a: self._click(a, "left", 2),
            LeftClickDrag: self._drag,
            Scroll: self._scroll,
            Wait: self._wait,
            Navigate: self._navigate,
            Back: lambda a: self._history("back"),
            Forward: lambda a: self._history("forward"),
        }

    def _check_point(self, point: tuple[int, int]) -> None:
        s = self.settings
        x, y = point
        if not (0 <= x < s.viewport_width and 0 <= y < s.viewport_height):
            raise ActionFailed(
                f"point ({x}, {y}) is outside the {s.viewport_width}x{s.viewport_height} viewport; "
                "map model coordinates with CoordinateMapper.to_driver before acting"
            )

    def _key(self, action: Key) -> None:
        keys = normalize_keys(action.keys)
        names = [to_playwright(k, shift="shift" in keys[:i]) for i, k in enumerate(keys)]
        kb = self._page.keyboard
        pressed: list[str] = []
        try:
            for name in names:
                self._guard(lambda n=name: kb.down(n), f"pressing {name!r}")
                pressed.append(name)
        finally:
            # Release in reverse even after a failure, so no modifier stays held for the next action.
            for name in reversed(pressed):
                self._guard(lambda n=name: kb.up(n), f"releasing {name!r}")

    def _type(self, action: Type) -> None:
        # Playwright sends characters missing from the keyboard layout (CJK, emoji) as text input.
        self._guard(lambda: self._page.keyboard.type(action.text), "typing")

    def _move(self, x: float, y: float, steps: int = 1) -> None:
        self._guard(lambda: self._page.mouse.move(x, y, steps=steps), "moving the mouse")
        self._mouse = (x, y)

    def _mouse_move(self, action: MouseMove) -> None:
        self._move(*action.coordinate)

    def _click(self, action: Any, button: str, count: int) -> None:
        x, y = action.coordinate if action.coordinate is not None else self._mouse
        self._move(x, y)
        mouse = self._page.mouse
        if count == 2:
            self._guard(lambda: mouse.dblclick(x, y, button=button), "double-clicking")
        else:
            self._guard(lambda: mouse.click(x, y, button=button), f"{button}-clicking")

    def _drag(self, action: LeftClickDrag) -> None:
        start = action.start_coordinate if action.start_coordinate is not None else self._mouse
        mouse = self._page.mouse
        self._move(*start)
        self._guard(mouse.down, "pressing the mouse button")
        try:
            self._move(*action.coordinate, steps=self.settings.drag_steps)
        finally:
            self._guard(mouse.up, "releasing the mouse button")

    def _scroll(self, action: Scroll) -> None:
        if action.coordinate is not None:
            self._move(*action.coordinate)
        # Positive pixels scroll up; a wheel's positive delta scrolls down. The page scrolls by the delta in
        # CSS pixels at every device scale factor (tests check scrollY), although the DOM event's deltaY
        # then reads delta / scale factor.
        self._guard(lambda: self._page.mouse.wheel(0, -action.pixels), "scrolling")

    def _wait(self, action: Wait) -> None:
        self._guard(lambda: self._page.wait_for_timeout(action.time * 1000), "waiting")

    def _navigate(self, action: Navigate) -> None:
        url = _with_scheme(action.url)
        self._guard(lambda: self._page.goto(url, timeout=self.settings.navigation_timeout * 1000), f"opening {url}")

    def _history(self, direction: str) -> None:
        page = self._page
        go = page.go_back if direction == "back" else page.go_forward
        response = self._guard(lambda: go(timeout=self.settings.navigation_timeout * 1000), f"going {direction}")
        if response is None:
            logger.debug("going {} loaded no new document (no history entry, or a same-page entry)", direction)

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
            while self._context.pages and len(self._context.pages) < self._tab_targets():
                if time.monotonic() > deadline:
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

    def _tab_targets(self) -> int:
        """How many tabs Chromium has (Playwright launches it without a startup window, so all are ours)."""
        if self._cdp is None:
            return 0
        targets = self._cdp.send("Target.getTargets")["targetInfos"]
        return sum(1 for t in targets if t.get("type") == "page")

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
            raise  # unreachable: _raise_for always raises

    def _raise_for(self, exc: Exception, what: str, timeout_is_fatal: bool) -> None:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        message = _first_line(exc)
        gone = self._crashed is not None or (self._browser is not None and not self._browser.is_connected())
        # Playwright's words for a dead renderer; a URL that merely contains "crash" must not match.
        if gone or "Target crashed" in message or "page crashed" in message:
            self._mark_crashed(message)
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


_TEXT_AT_JS = """([x, y]) => {
  const hit = document.elementFromPoint(x, y);
  if (!hit) return null;
  const el = hit.closest("a, button, input, select, textarea, label, summary, [role], [onclick]") || hit;
  const value = el.type === "password" ? null : el.value;
  const parts = [el.getAttribute("aria-label"), el.innerText, value, el.title, el.alt, el.getAttribute("placeholder")];
  const text = parts.filter((p) => typeof p === "string" && p.trim()).join(" ").replace(/\\s+/g, " ").trim();
  return text ? text.slice(0, 300) : null;
}"""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
