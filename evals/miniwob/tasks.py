"""MiniWoB++ tasks as eval tasks, in two views: a desktop browser window and a phone-sized zoomed one.

Each episode loads the task page, seeds the page's RNG (`Math.seedrandom`) before the episode starts,
raises the page's time limit (the pages end episodes by themselves after 10 s, far too short for a
model that thinks for seconds per step), starts it, and reads the goal from the page (`core.getUtterance`).
The page's clock (Date, timers, animation frames: Playwright's clock) stands still from the end of setup except
while the agent acts: each action advances it by the action's own duration, at least ACTION_PAGE_S (a wait by
exactly the time waited). So a price feed or a time-decayed reward measures the agent's actions, not the seconds
a model thinks between them.
The score is the page's raw reward (`WOB_RAW_REWARD_GLOBAL`, not the time-decayed one): 1.0 when the
page gave its full reward and ended the episode, else 0.0. It is read from the tab and document that setup
loaded, whichever tab is active by then; an agent that navigated that tab elsewhere (another site, an error
page, a reload) or closed it scores 0.0, while a browser that died makes scoring fail (an error, retried).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from loguru import logger
from pydantic import Field

from actions.base import Action, Wait
from environments.base import Environment
from environments.capabilities import MissingCapability, PageAccess, capability
from evals.miniwob import server
from evals.miniwob.budgets import oracle_longest, step_budget
from evals.registry import Suite
from evals.task import Difficulty, Task, TaskParams, TaskSetupError

# One episode may take this long in the page's own clock (ms): a day, so it never ends by time out.
EPISODE_MAX_MS = 24 * 3600 * 1000
READY_TIMEOUT_MS = 10_000
# The page time an action takes at the least, as a quick human's would: the animations it starts (a menu, an
# accordion, a date picker fading out: 200-400 ms in jQuery UI) have ended when the agent looks again. With
# only the driver's own few milliseconds they would stand frozen halfway, over what the agent means to click.
ACTION_PAGE_S = 0.5
# Playwright's pause_at refuses a time already past; the page's clock runs on while we ask it for the time, so the
# pause lands this far ahead (before the agent's first observation, so it is no part of the episode).
_PAUSE_AHEAD_MS = 100
# The page's state, or null in any document but the one setup marked (another site, an error page, a reload).
_STATE_JS = "() => window.EVAL_TASK_DOCUMENT === true ? [WOB_DONE_GLOBAL, WOB_RAW_REWARD_GLOBAL] : null"

# Tasks whose oracle or humans need many steps or precise manipulation; the rest are easy.
HARD = {
    "book-flight", "book-flight-nodelay", "choose-date", "choose-date-medium", "click-checkboxes-soft",
    "click-pie", "click-scroll-list", "drag-cube", "drag-items", "drag-items-grid", "drag-shapes",
    "drag-shapes-2", "drag-sort-numbers", "draw-circle", "draw-line", "email-inbox", "email-inbox-forward-nl",
    "email-inbox-forward-nl-turk", "email-inbox-nl-turk", "email-inbox-reply", "email-inbox-star-reply",
    "search-engine", "social-media-all", "social-media-some", "terminal", "text-editor", "tic-tac-toe",
    "use-colorwheel", "use-colorwheel-2", "count-shape", "count-sides", "daily-calendar", "stock-market",
    "guess-number", "hot-cold", "bisect-angle", "right-angle", "circle-center", "find-midpoint",
}
MEDIUM = {
    "book-flight-nodelay", "choose-date-easy", "choose-date-nodelay", "choose-list", "click-button-sequence",
    "click-checkboxes", "click-checkboxes-large", "click-checkboxes-transfer", "click-collapsible-2",
    "click-collapsible-2-nodelay", "click-menu", "click-menu-2", "click-tab-2", "click-tab-2-easy",
    "click-tab-2-hard", "click-tab-2-medium", "copy-paste", "copy-paste-2", "email-inbox-delete",
    "email-inbox-forward", "email-inbox-important", "email-inbox-noscroll", "enter-date", "enter-password",
    "enter-text-2", "enter-time", "find-word", "form-sequence", "form-sequence-2", "form-sequence-3",
    "grid-coordinate", "highlight-text", "highlight-text-2", "login-user", "login-user-popup", "multi-layouts",
    "multi-orderings", "navigate-tree", "number-checkboxes", "odd-or-even", "order-food", "phone-book",
    "read-table", "read-table-2", "resize-textarea", "scroll-text", "scroll-text-2", "simple-algebra",
    "simple-arithmetic", "social-media", "text-transform", "use-autocomplete", "use-autocomplete-nodelay",
    "use-slider", "use-slider-2", "use-spinner", "visual-addition", "ascending-numbers", "drag-box",
    "drag-circle", "drag-single-shape", "generate-number", "identify-shape", "unicode-test", "buy-ticket",
} - HARD


@dataclass(frozen=True)
class View:
    """How the page is shown: a viewport in CSS px and a device scale factor (physical px per CSS px), and
    whether it is a phone (`touch`: the MOBILE action space, touch input)."""

    suite: str
    viewport: tuple[int, int]
    device_scale_factor: float
    description: str
    touch: bool = False


DESKTOP = View("miniwob", (1280, 720), 1.0, "MiniWoB++ in a 1280x720 desktop browser window")
# Like AndroidWorld's MobileMiniWoB++: the page on a common phone screen, 360x800 CSS px at 3 physical px
# each (1080x2400), so the model reads the 160x210 task area with three times the pixels, acted on as a phone
# (mobile_use: taps, swipes, the keyboard, system buttons). Narrower viewports push jQuery UI dialogs (300 px
# wide before the tasks resize them) off the screen.
MOBILE = View("miniwob-mobile", (360, 800), 3.0,
              "MiniWoB++ on a phone: a 1080x2400 touchscreen (360x800 CSS px at 3x), mobile_use actions", touch=True)


def package_task_names() -> list[str]:
    """Every task the `miniwob` package registers as an environment (it leaves out the real-time ones:
    chase-circle, moving-items, simon-says, hover-shape, button-delay); the html folder if that fails."""
    try:
        import miniwob.envs.miniwob_envs as envs

        names = {c.subdomain for c in vars(envs).values() if isinstance(getattr(c, "subdomain", None), str)}
    except Exception as e:  # noqa: BLE001 - gymnasium missing or a changed layout: fall back to the files
        logger.debug("could not read the miniwob package's registry ({}); listing its html folder", e)
        names = {p.stem for p in (server.html_dir() / "miniwob").glob("*.html")}
        names -= {"chase-circle", "moving-items", "simon-says", "hover-shape", "button-delay"}
    return sorted(names)


class MiniWoBParams(TaskParams):
    seed: int = Field(ge=0, lt=2**31, description="Seed of the page's Math.seedrandom.")


class MiniWoBTask(Task[MiniWoBParams]):
    """One MiniWoB++ page. Subclasses (made by `_make`) set `name` (the page) and `view`."""

    suite: ClassVar[str] = "miniwob"
    apps: ClassVar[tuple[str, ...]] = ("browser",)
    template: ClassVar[str] = "{utterance}"
    Params: ClassVar[type[TaskParams]] = MiniWoBParams
    environment: ClassVar[str] = "browser"
    goal_from_environment: ClassVar[bool] = True
    view: ClassVar[View] = DESKTOP

    def __init__(self, params: MiniWoBParams) -> None:
        super().__init__(params)
        self.utterance: str | None = None
        # The Playwright page setup loaded: the score is read there, not from whatever tab is active later.
        self.page: Any = None
        self.clock_started_ms: float | None = None  # the page's Date.now() when its clock was first paused

    @classmethod
    def generate_params(cls, seed: int) -> MiniWoBParams:
        return MiniWoBParams(seed=seed % 2**31)

    @classmethod
    def environment_options(cls) -> dict[str, Any]:
        w, h = cls.view.viewport
        return {"viewport_width": w, "viewport_height": h, "device_scale_factor": cls.view.device_scale_factor,
                "touch": cls.view.touch}

    def goal(self) -> str:
        if self.utterance is None:
            raise RuntimeError(f"{self.name}: the goal is the page's utterance, known only after setup()")
        return self.utterance

    def setup(self, env: Environment) -> None:
        page = _page(env)
        seed = self.params.seed
        try:
            # Before the page loads, so its every timer is the controlled one (the clock lives in the context,
            # which reset() made new).
            page.clock.install()
            page.goto(server.task_url(self.name))
            page.wait_for_function("() => typeof core !== 'undefined' && !!document.getElementById('sync-task-cover')",
                                   timeout=READY_TIMEOUT_MS)
            page.evaluate(
                """([seed, ms]) => {
                    Math.seedrandom(seed);
                    core.EPISODE_MAX_TIME = ms;
                    core.startEpisodeReal();
                    // One episode per page load: a click on the START cover that shows after the episode
                    // must not start a second one, which would reset the reward we read.
                    core.startEpisodeReal = function () {};
                    // Marks this document as the scored one: any page the tab shows later lacks it.
                    window.EVAL_TASK_DOCUMENT = true;
                }""",
                [seed, EPISODE_MAX_MS],
            )
            page.wait_for_function("() => WOB_TASK_READY === true", timeout=READY_TIMEOUT_MS)
            utterance = page.evaluate("() => core.getUtterance()")
            # The natural-language email tasks give {utterance, fields} outside their test mode: the fields are
            # for scoring models of old; the agent reads the utterance.
            self.utterance = str(utterance["utterance"] if isinstance(utterance, dict) else utterance).strip()
            self.page = page
            self.clock_started_ms = _pause_clock(page)
        except Exception as e:  # any failure here is the environment's, not the agent's
            raise TaskSetupError(f"{self.name}: loading the MiniWoB++ page failed: {e}") from e
        if not self.utterance:
            raise TaskSetupError(f"{self.name}: the page gave an empty utterance")

    def state(self, env: Environment) -> tuple[bool, float]:
        """(done, raw reward) as the task's page holds them; (False, 0.0) when the agent left that page."""
        page = self.page
        if page is None:
            raise RuntimeError(f"{self.name}: the page's state is known only after setup()")
        if page.is_closed():
            browser = page.context.browser
            if browser is None or not browser.is_connected():
                raise RuntimeError(f"{self.name}: the browser is gone, so the page's reward cannot be read")
            return False, 0.0  # the agent closed the task's tab
        state = _read_state(page)
        if state is None:
            return False, 0.0  # the tab shows another document than the task's
        done, raw = state
        return bool(done), float(raw)

    def score(self, env: Environment) -> float:
        done, raw = self.state(env)
        return 1.0 if done and raw >= 1.0 - 1e-9 else 0.0

    @contextmanager
    def acting(self, env: Environment, action: Action) -> Iterator[None]:
        """Runs the page's clock once the action is done, for as long as it took but at least ACTION_PAGE_S (a
        wait: the time asked for, exactly, so a script can wait for a moment on the page's own clock)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            took = max(ACTION_PAGE_S, time.perf_counter() - started)
            ms = action.time * 1000 if isinstance(action, Wait) else took * 1000
            # Through the environment's page, so that the driver knows the page changed (the clock is the
            # browser context's: the active tab runs it for all).
            page = _page(env) if self.page is not None else None
            if page is not None and not page.is_closed():
                # Timers fire in order as if the time had passed while the action ran.
                page.clock.run_for(max(1, round(ms)))

    def clock_seconds(self, env: Environment) -> float | None:
        if self.page is None or self.clock_started_ms is None or self.page.is_closed():
            return None
        return (float(self.page.evaluate("() => Date.now()")) - self.clock_started_ms) / 1000

    def teardown(self, env: Environment) -> None:
        try:
            _page(env).goto("about:blank")  # stop the page's timers before the next task
        except Exception as e:  # noqa: BLE001 - the next setup navigates anyway
            logger.debug("teardown of {} failed: {}", self.name, e)

    @classmethod
    def has_oracle(cls) -> bool:
        from evals.miniwob.oracle import SCRIPTS
        from evals.miniwob.oracle_touch import NOT_TOUCH

        return cls.name in SCRIPTS and not (cls.view.touch and cls.name in NOT_TOUCH)

    def oracle(self, env: Environment) -> Iterator[Action] | None:
        from evals.miniwob.oracle import SCRIPTS, OracleError, Page
        from evals.miniwob.oracle_touch import NOT_TOUCH, touch_answers

        script = SCRIPTS.get(self.name)
        if script is None:
            return None
        if self.view.touch and self.name in NOT_TOUCH:
            # Asked for by name: an error (nothing measured), not the failure of an agent.
            raise OracleError(f"the oracle's script for {self.name} cannot be done by touch: {NOT_TOUCH[self.name]}")
        answers = script(Page(_page(env), env.observe, touch=self.view.touch), self.goal())
        return touch_answers(answers, self.view.viewport[1]) if self.view.touch else answers


def _pause_clock(page: Any) -> float:
    """Stop the page's clock a moment ahead of its time now; returns the time it stands at (ms)."""
    for _ in range(3):
        at = float(page.evaluate("() => Date.now()")) + _PAUSE_AHEAD_MS
        try:
            page.clock.pause_at(at / 1000)  # the Python API takes seconds
            return at
        except Exception as e:  # Playwright's Error: the machine was slower than the margin
            if "to the past" not in str(e):
                raise
    raise TaskSetupError(f"the page's clock would not pause {_PAUSE_AHEAD_MS} ms ahead of itself; the machine is "
                         "too busy, run fewer --workers")


def _read_state(page: Any) -> list[Any] | None:
    """[done, raw reward] of the task's document; None when the tab shows another one."""
    deadline = time.monotonic() + READY_TIMEOUT_MS / 1000
    while True:
        try:
            return page.evaluate(_STATE_JS)
        except Exception as e:
            # A navigation the agent started may still be committing (a failed one lands on Chromium's error
            # page after goto has given up): the old document's context goes mid-call. Read the new one.
            if "Execution context was destroyed" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _page(env: Environment) -> Any:
    try:
        return capability(env, PageAccess, "MiniWoB++ tasks").page()
    except MissingCapability as e:
        raise TaskSetupError(str(e)) from None


def _make(name: str, view: View, longest: dict[str, int]) -> type[MiniWoBTask]:
    difficulty: Difficulty = "hard" if name in HARD else "medium" if name in MEDIUM else "easy"
    attrs = {"name": name, "suite": view.suite, "view": view, "difficulty": difficulty,
             "max_steps": step_budget(name, difficulty, longest),
             "__doc__": f"MiniWoB++ {name} ({view.description})."}
    return type(f"MiniWoB_{name.replace('-', '_')}_{view.suite.replace('-', '_')}", (MiniWoBTask,), attrs)


def _suite(view: View) -> Suite:
    longest = oracle_longest()
    return Suite(view.suite, view.description, {n: _make(n, view, longest) for n in package_task_names()})


DESKTOP_SUITE = _suite(DESKTOP)
MOBILE_SUITE = _suite(MOBILE)
