"""The browser driver against a real headless Chromium and local pages that log every event."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from actions.base import Answer, Terminate, Type, Wait
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
from actions.geometry import CoordinateMapper, ImageBudget
from environments.base import ActionFailed, DriverError, EnvironmentUnavailable
from environments.browser.driver import BrowserEnvironment, BrowserSettings
from environments.browser.chromium import find_chromium
from environments.keys import normalize_keys

# Small enough that the model sees a smaller image than the screenshot at both scale factors.
SMALL_BUDGET = ImageBudget(max_pixels=300 * 28 * 28)


def started(settings: BrowserSettings) -> Iterator[BrowserEnvironment]:
    """An environment reset once, for a module fixture to yield from; closed after the module."""
    environment = BrowserEnvironment(settings)
    environment.reset()
    yield environment
    environment.close()


@pytest.fixture(scope="module", params=[1.0, 2.0], ids=["dsf1", "dsf2"])
def env(request: pytest.FixtureRequest, page_server: str) -> Iterator[BrowserEnvironment]:
    yield from started(
        BrowserSettings(
            device_scale_factor=request.param,
            start_url=f"{page_server}/log",
            navigation_timeout=3.0,
            settle_timeout=1.0,
            settle_delay=0.1,
        )
    )


@pytest.fixture
def log_page(env: BrowserEnvironment, page_server: str) -> BrowserEnvironment:
    """The event-log page, freshly loaded in the only tab, with the mouse in a known place."""
    if env.page().url != f"{page_server}/log" or len(env.page().context.pages) != 1:
        env.reset()
    else:
        env.page().reload()
    return env


def events(env: BrowserEnvironment, kind: str | None = None) -> list[dict[str, Any]]:
    """Events the page logged since the last call (all, or only those of one type)."""
    logged = env.page().evaluate("window.__events.splice(0)")
    return [e for e in logged if kind is None or e["type"] == kind]


def model_mapper(env: BrowserEnvironment) -> CoordinateMapper:
    mapper = CoordinateMapper.for_screen(env.observe().geometry, SMALL_BUDGET)
    assert (mapper.model_width, mapper.model_height) != (mapper.screen.width, mapper.screen.height)
    return mapper


def last_page_point(env: BrowserEnvironment, mapper: CoordinateMapper) -> tuple[int, int]:
    """The model pixel nearest the bottom-right corner that lands on the page itself: on the virtual display
    the page's scrollbars are drawn, as a person sees them, and a click there reaches no element."""
    width, height = env.page().evaluate("[document.documentElement.clientWidth, document.documentElement.clientHeight]")
    x, y = mapper.model_width - 1, mapper.model_height - 1
    while mapper.to_driver((x, 0))[0] >= width:
        x -= 1
    while mapper.to_driver((0, y))[1] >= height:
        y -= 1
    return x, y


def css_target(mapper: CoordinateMapper, point: tuple[int, int]) -> tuple[float, float]:
    """Where, in CSS px, the centre of a model pixel lies."""
    ix, iy = mapper.to_image(point)
    return ix / mapper.screen.scale, iy / mapper.screen.scale


def test_reports_geometry_url_and_title(env: BrowserEnvironment) -> None:
    obs = env.observe()
    dsf = env.settings.device_scale_factor
    assert obs.screenshot.size == (int(1280 * dsf), int(800 * dsf))
    assert obs.geometry.scale == dsf
    assert obs.geometry.logical_size == (1280, 800)
    assert obs.extras.url.endswith("/log")
    assert obs.extras.title == "event log"


MODEL_POINTS = [(0, 0), (1, 1), (17, 200), (300, 13), (455, 279), (200, 150)]


@pytest.mark.parametrize(
    ("action_cls", "kind", "button"),
    [
        (LeftClick, "click", 0),
        (RightClick, "contextmenu", 2),
        (MiddleClick, "auxclick", 1),
        (DoubleClick, "dblclick", 0),
    ],
)
def test_clicks_land_where_the_model_pointed(
    log_page: BrowserEnvironment, action_cls: type, kind: str, button: int
) -> None:
    env = log_page
    mapper = model_mapper(env)
    points = [p for p in MODEL_POINTS if p[0] < mapper.model_width and p[1] < mapper.model_height]
    points.append(last_page_point(env, mapper))
    for point in points:
        # The same path as the agent: a model-space action mapped to driver space.
        action = action_cls(coordinate=point).map_points(mapper.to_driver)
        events(env)
        env.act(action)
        (hit,) = events(env, kind)
        assert hit["button"] == button
        assert (hit["x"], hit["y"]) == action.coordinate
        tx, ty = css_target(mapper, point)
        assert abs(hit["x"] - tx) <= 1 and abs(hit["y"] - ty) <= 1, (point, hit, (tx, ty))


def test_click_without_coordinate_uses_the_mouse_position(log_page: BrowserEnvironment) -> None:
    env = log_page
    env.act(MouseMove(coordinate=(611, 377)))
    assert env.page().evaluate("window.__lastMove") == [611, 377]
    events(env)
    env.act(LeftClick())
    (hit,) = events(env, "click")
    assert (hit["x"], hit["y"]) == (611, 377)


def test_drag_from_a_start_point_and_from_the_mouse(log_page: BrowserEnvironment) -> None:
    env = log_page
    events(env)
    env.act(LeftClickDrag(start_coordinate=(500, 300), coordinate=(700, 450)))
    log = events(env)
    down = [e for e in log if e["type"] == "mousedown"]
    up = [e for e in log if e["type"] == "mouseup"]
    assert [(e["x"], e["y"]) for e in down] == [(500, 300)]
    assert [(e["x"], e["y"]) for e in up] == [(700, 450)]
    env.act(LeftClickDrag(coordinate=(650, 600)))
    log = events(env)
    assert [(e["x"], e["y"]) for e in log if e["type"] == "mousedown"] == [(700, 450)]
    assert [(e["x"], e["y"]) for e in log if e["type"] == "mouseup"] == [(650, 600)]


def test_scroll_positive_is_up_at_a_coordinate(log_page: BrowserEnvironment) -> None:
    env = log_page
    # On the virtual display the wheel turns in whole notches of 120 CSS px, as a person's does (the nearest
    # count); page-level input scrolls by the exact amount.
    notch = 120 if env.mode == "virtual" else None
    events(env)
    env.act(Scroll(pixels=-400, coordinate=(640, 500)))
    wheels = events(env, "wheel")  # Chromium may merge a quick run of notches into fewer events
    assert wheels and all((w["x"], w["y"]) == (640, 500) and w["dy"] > 0 for w in wheels)
    down = 3 * notch if notch else 400
    assert env.page().evaluate("window.scrollY") == down
    env.act(Scroll(pixels=150))  # at the current mouse position
    wheels = events(env, "wheel")
    assert len(wheels) == 1
    assert (wheels[0]["x"], wheels[0]["y"]) == (640, 500) and wheels[0]["dy"] < 0
    assert env.page().evaluate("window.scrollY") == down - (notch or 150)


def test_keys_and_typing(log_page: BrowserEnvironment) -> None:
    env = log_page
    env.act(LeftClick(coordinate=(100, 50)))  # the textarea
    env.act(Type(text="first"))
    env.act(Key(keys=["ctrl", "a"]))
    env.act(Type(text="$(rm -rf /) `id` 'q' \"d\" <a>&|; 你好 wörld 🎉"))
    env.act(Key(keys=["Return"]))
    env.act(Type(text="end"))
    value = env.page().evaluate("document.getElementById('box').value")
    assert value == "$(rm -rf /) `id` 'q' \"d\" <a>&|; 你好 wörld 🎉\nend"
    events(env)
    env.act(Key(keys=["ctrl+shift+End"]))
    downs = [e for e in events(env, "keydown")]
    assert [e["key"] for e in downs] == ["Control", "Shift", "End"]
    assert downs[-1]["ctrl"] and downs[-1]["shift"]
    env.act(Key(keys=["esc"]))
    env.act(Key(keys=["pgdn"]))
    env.act(Key(keys=["super"]))
    env.act(Key(keys=["space"]))
    env.act(Key(keys=["shift", "a"]))
    keys = [e["key"] for e in events(env, "keydown")]
    assert keys == ["Escape", "PageDown", "Meta", " ", "Shift", "A"]


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        (["ctrl", "c"], ("ctrl", "c")),
        (["Ctrl+C"], ("ctrl", "c")),
        (["cmd", "shift", "T"], ("meta", "shift", "t")),
        (["super"], ("meta",)),
        (["Return"], ("enter",)),
        (["KP_Enter"], ("enter",)),
        (["esc"], ("escape",)),
        (["pgdn"], ("pagedown",)),
        (["Page_Up"], ("pageup",)),
        (["ArrowLeft"], ("left",)),
        (["ctrl++"], ("ctrl", "+")),
        (["+"], ("+",)),
        (["A"], ("A",)),
        (["F5"], ("f5",)),
        ([" "], ("space",)),
    ],
)
def test_key_names_normalise_once(written: list[str], canonical: tuple[str, ...]) -> None:
    assert normalize_keys(written) == canonical


@pytest.mark.parametrize("bad", [["hyperdrive"], ["ctrl", ""], ["\x07"], []])
def test_bad_key_names_say_what_to_use(bad: list[str]) -> None:
    with pytest.raises(ActionFailed, match="key"):
        normalize_keys(bad)


def test_every_driver_maps_every_named_key() -> None:
    """The action space names the keys (actions.keys), the drivers' table maps them: the two agree."""
    from actions.keys import NAMED_KEYS
    from environments.keys import _NAMED

    assert set(_NAMED) == set(NAMED_KEYS)


def test_unknown_key_is_a_clear_error(log_page: BrowserEnvironment) -> None:
    with pytest.raises(ActionFailed, match="unknown key 'hyperdrive'"):
        log_page.act(Key(keys=["ctrl", "hyperdrive"]))
    # Nothing stays pressed after the failure.
    log_page.act(LeftClick(coordinate=(100, 50)))
    log_page.act(Type(text="a"))
    assert log_page.page().evaluate("document.getElementById('box').value") == "a"


def test_navigate_back_forward(log_page: BrowserEnvironment, page_server: str) -> None:
    env = log_page
    env.act(Navigate(url=f"{page_server}/second"))
    assert env.observe().extras.title == "second"
    env.act(Back())
    assert env.observe().extras.url == f"{page_server}/log"
    env.act(Forward())
    assert env.observe().extras.url == f"{page_server}/second"
    env.act(Wait(time=0.1))


def test_a_click_that_opens_a_tab_makes_it_active(log_page: BrowserEnvironment, page_server: str) -> None:
    env = log_page
    box = env.page().locator("#newtab").bounding_box()
    env.act(LeftClick(coordinate=(int(box["x"] + 5), int(box["y"] + box["height"] / 2))))
    obs = env.observe()
    assert obs.extras.url == f"{page_server}/second"
    assert obs.extras.tabs == 2
    env.act(LeftClick(coordinate=(30, 110)))  # the new tab's button that calls window.close()
    obs = env.observe()  # closing the active tab falls back to the one before
    assert (obs.extras.url, obs.extras.tabs) == (f"{page_server}/log", 1)


def test_text_at_reads_what_a_click_would_touch(log_page: BrowserEnvironment) -> None:
    box = log_page.page().locator("#newtab").bounding_box()
    assert log_page.text_at(int(box["x"] + 3), int(box["y"] + 3)) == "open a tab"
    log_page.page().evaluate("document.getElementById('box').value = 'typed'")
    assert log_page.text_at(100, 50) == "typed"


def test_episode_ending_actions_and_off_screen_points_are_refused(log_page: BrowserEnvironment) -> None:
    with pytest.raises(ActionFailed, match="agent loop"):
        log_page.act(Terminate(status="success"))
    with pytest.raises(ActionFailed, match="agent loop"):
        log_page.act(Answer(text="42"))
    with pytest.raises(ActionFailed, match="outside the 1280x800 viewport"):
        log_page.act(LeftClick(coordinate=(1280, 10)))


def test_a_page_that_never_loads_fails_in_bounded_time(
    log_page: BrowserEnvironment, page_server: str
) -> None:
    env = log_page
    started = time.monotonic()
    with pytest.raises(ActionFailed, match="did not finish in time"):
        env.act(Navigate(url=f"{page_server}/hang"))
    assert time.monotonic() - started < env.settings.navigation_timeout + 3
    env.act(Navigate(url=f"{page_server}/second"))  # the environment goes on
    assert env.observe().extras.title == "second"


def test_a_failed_navigation_shows_a_long_address_clipped(log_page: BrowserEnvironment) -> None:
    # Port 1 is one Chromium refuses at once, so this fails the same way with or without a network.
    url = "http://127.0.0.1:1/" + "z" * 300
    with pytest.raises(ActionFailed, match="ERR_UNSAFE_PORT") as failed:
        log_page.act(Navigate(url=url))
    message = str(failed.value)
    assert "z" * 100 not in message and len(message) < 300, message


@pytest.fixture(scope="module")
def odd_env(page_server: str) -> Iterator[BrowserEnvironment]:
    """A viewport that a fractional device scale factor cannot shoot in whole pixels, and a long settle."""
    yield from started(
        BrowserSettings(
            viewport_width=801,
            viewport_height=601,
            device_scale_factor=1.5,
            start_url=f"{page_server}/log",
            navigation_timeout=5.0,
            settle_timeout=3.0,
        )
    )


def test_the_last_model_pixel_lands_inside_a_fractionally_scaled_viewport(odd_env: BrowserEnvironment) -> None:
    env = odd_env
    geometry = env.observe().geometry
    assert (geometry.width, geometry.height) == (1202, 902)  # 801.33x601.33 CSS px as the screenshot reads
    mapper = CoordinateMapper.for_screen(geometry, ImageBudget())
    action = LeftClick(coordinate=(mapper.model_width - 1, mapper.model_height - 1)).map_points(mapper.to_driver)
    events(env)
    env.act(action)
    (hit,) = events(env, "click")
    assert (hit["x"], hit["y"]) == action.coordinate == (800, 600)


def test_a_blocked_popup_does_not_slow_later_actions(odd_env: BrowserEnvironment, page_server: str) -> None:
    env = odd_env
    env.page().evaluate(
        """() => {
        const b = document.createElement("button");
        b.textContent = "data popup";
        b.style = "position: fixed; left: 20px; top: 300px; width: 200px; height: 40px";
        b.onclick = () => window.open("data:text/html,<p>blocked</p>");
        document.body.appendChild(b);
    }"""
    )
    # Chromium blocks the popup's navigation but keeps an empty tab that Playwright never delivers: the
    # click waits for it once, at most settle_timeout (3 s); the actions after it must not.
    started = time.monotonic()
    env.act(LeftClick(coordinate=(100, 320)))
    first = time.monotonic() - started
    assert env.observe().extras.tabs == 1
    # Measured against that first wait, so a loaded machine's slower actions do not count as waiting again.
    for action in (Wait(time=0.0), LeftClick(coordinate=(600, 500))):
        started = time.monotonic()
        env.act(action)
        assert time.monotonic() - started < max(1.5, first / 2), (action, first)
    # A tab that does open is still waited for and made the active one.
    box = env.page().locator("#newtab").bounding_box()
    env.act(LeftClick(coordinate=(int(box["x"] + 5), int(box["y"] + box["height"] / 2))))
    obs = env.observe()
    assert (obs.extras.url, obs.extras.tabs) == (f"{page_server}/second", 2)


def test_missing_chromium_is_a_clear_error(tmp_path: Any) -> None:
    with pytest.raises(EnvironmentUnavailable, match="scripts/install.sh"):
        find_chromium(tmp_path / "no-such-chromium")
    env = BrowserEnvironment(BrowserSettings(executable_path=tmp_path / "no-such-chromium"))
    with pytest.raises(EnvironmentUnavailable, match="does not exist"):
        env.reset()
    env.close()


def _descendants(ancestor: int, marker: bytes) -> list[int]:
    """Processes descended from `ancestor` whose command line holds `marker`."""
    parents: dict[int, int] = {}
    marked = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if marker in f.read():
                    marked.append(int(entry))
        except OSError:
            continue
    found = []
    for pid in marked:
        p = pid
        while p > 1 and p != ancestor:
            p = parents.get(p, 0)
        if p == ancestor:
            found.append(pid)
    return found


def _our_browser_processes() -> set[int]:
    """Chromium main processes descended from this test process (never anyone else's)."""
    parents: dict[int, int] = {}
    browsers: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()  # Chromium rewrites its argv into one string: no per-argument split
        except OSError:
            continue
        if b"chrom" in cmdline.split(b" ")[0] and b"--type=" not in cmdline and b"crashpad" not in cmdline[:80]:
            browsers.add(int(entry))
    ours = set()
    for pid in browsers:
        p = pid
        while p > 1:
            p = parents.get(p, 0)
            if p == os.getpid():
                ours.add(pid)
                break
    return ours


def test_a_browser_crash_ends_the_episode_without_hanging(page_server: str) -> None:
    env = BrowserEnvironment(BrowserSettings(start_url=f"{page_server}/second", navigation_timeout=5.0))
    try:
        before = _our_browser_processes()
        env.reset()
        (pid,) = _our_browser_processes() - before
        started = time.monotonic()
        os.kill(pid, signal.SIGKILL)  # the browser dies mid-episode
        with pytest.raises(EnvironmentUnavailable, match="reset"):
            env.act(LeftClick(coordinate=(10, 10)))
            env.observe()
        with pytest.raises(EnvironmentUnavailable):
            env.act(Wait(time=0.1))
        assert time.monotonic() - started < 15
        assert env.reset().extras.title == "second"  # a new episode starts a new browser
        # A crashed tab (renderer) ends the episode too, at the latest on the next observation.
        # (A headed Chromium refuses a page's navigation to chrome://crash, so its renderers are killed.)
        (pid,) = _our_browser_processes() - before
        for renderer in _descendants(pid, b"--type=renderer"):
            os.kill(renderer, signal.SIGKILL)
        with pytest.raises(DriverError):
            env.act(Wait(time=0.5))
        with pytest.raises(EnvironmentUnavailable, match="crashed"):
            env.observe()
        assert env.reset().extras.title == "second"
    finally:
        env.close()
