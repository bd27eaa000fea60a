"""The desktop driver on a real X server (our own Xvfb) with a Tk window that logs every event."""

from __future__ import annotations

import os
import signal
import time
import subprocess
from collections.abc import Iterator

import pytest

from actions.base import Answer, Terminate, Type, Wait
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
from environments.base import ActionFailed, EnvironmentUnavailable
from environments.desktop.driver import DesktopEnvironment, DesktopSettings
from tests.support.display import EventWindow

SMALL_BUDGET = ImageBudget(max_pixels=300 * 28 * 28)


@pytest.fixture(scope="module")
def env(xvfb: str) -> Iterator[DesktopEnvironment]:
    environment = DesktopEnvironment(DesktopSettings(display=xvfb, settle_delay=0.02, drag_duration=0.15))
    yield environment
    environment.close()


@pytest.fixture
def window(event_window: EventWindow, env: DesktopEnvironment) -> EventWindow:
    env.act(MouseMove(coordinate=(640, 400)))  # away from the fail-safe corners
    event_window.command("clear")
    event_window.drain()
    return event_window


def presses(window: EventWindow, count: int) -> list[dict]:
    seen: list[dict] = []
    for _ in range(count):
        seen += [e for e in window.wait_for(lambda e: e["type"] == "press") if e["type"] == "press"]
    return seen


def test_reports_the_monitors_geometry(env: DesktopEnvironment) -> None:
    obs = env.reset()
    assert obs.screenshot.size == (1280, 800)
    assert (obs.geometry.scale, obs.geometry.origin_x, obs.geometry.origin_y) == (1.0, 0, 0)
    assert obs.extras.monitor == 1


@pytest.mark.parametrize(
    ("action_cls", "button", "count"),
    [(LeftClick, 1, 1), (RightClick, 3, 1), (MiddleClick, 2, 1), (DoubleClick, 1, 2)],
)
def test_clicks_land_where_the_model_pointed(
    env: DesktopEnvironment, window: EventWindow, action_cls: type, button: int, count: int
) -> None:
    mapper = CoordinateMapper.for_screen(env.observe().geometry, SMALL_BUDGET)
    assert mapper.model_width < 1280
    for point in [(3, 5), (100, 77), (250, 180), (mapper.model_width - 2, mapper.model_height - 2)]:
        action = action_cls(coordinate=point).map_points(mapper.to_driver)
        env.act(action)
        hits = presses(window, count)
        assert [(h["button"], h["x"], h["y"]) for h in hits] == [(button, *action.coordinate)] * count
        tx, ty = mapper.to_image(point)  # scale 1: image pixels are driver pixels
        assert abs(hits[0]["x"] - tx) <= 1 and abs(hits[0]["y"] - ty) <= 1


def test_move_then_click_at_the_mouse_position(env: DesktopEnvironment, window: EventWindow) -> None:
    env.act(MouseMove(coordinate=(321, 123)))
    window.wait_for(lambda e: e["type"] == "motion" and (e["x"], e["y"]) == (321, 123))
    env.act(LeftClick())
    (hit,) = presses(window, 1)
    assert (hit["x"], hit["y"]) == (321, 123)


def test_drag_from_a_start_point_and_from_the_mouse(env: DesktopEnvironment, window: EventWindow) -> None:
    env.act(LeftClickDrag(start_coordinate=(200, 200), coordinate=(400, 300)))
    seen = window.wait_for(lambda e: e["type"] == "release")
    (down,) = [e for e in seen if e["type"] == "press"]
    assert (down["button"], down["x"], down["y"]) == (1, 200, 200)
    assert (seen[-1]["x"], seen[-1]["y"]) == (400, 300)
    assert any(e["type"] == "motion" and 200 < e["x"] < 400 for e in seen)  # it moved while pressed
    env.act(LeftClickDrag(coordinate=(500, 350)))
    seen = window.wait_for(lambda e: e["type"] == "release")
    (down,) = [e for e in seen if e["type"] == "press"]
    assert (down["x"], down["y"], seen[-1]["x"], seen[-1]["y"]) == (400, 300, 500, 350)


def test_scroll_turns_pixels_into_wheel_notches(env: DesktopEnvironment, window: EventWindow) -> None:
    env.act(Scroll(pixels=100, coordinate=(600, 500)))  # up: X button 4, 100 px = 2 notches of 50
    hits = presses(window, 2)
    assert [(h["button"], h["x"], h["y"]) for h in hits] == [(4, 600, 500)] * 2
    env.act(Scroll(pixels=-10))  # down, at the current position, at least one notch
    (hit,) = presses(window, 1)
    assert (hit["button"], hit["x"], hit["y"]) == (5, 600, 500)
    env.act(Wait(time=0.05))
    assert not [e for e in window.drain() if e["type"] == "press"]


def test_keys_land_as_the_right_keysyms(env: DesktopEnvironment, window: EventWindow) -> None:
    env.act(Key(keys=["ctrl", "a"]))
    seen = window.wait_for(lambda e: e["type"] == "key" and e["keysym"] == "a")
    assert [e["keysym"] for e in seen if e["type"] == "key"] == ["Control_L", "a"]
    assert seen[-1]["state"] & 0x4  # Control held while 'a' went down
    named = [
        (["Return"], "Return"),
        (["esc"], "Escape"),
        (["pgdn"], "Next"),
        (["ctrl+shift+Home"], "Home"),
        (["super"], "Super_L"),
    ]
    for keys, keysym in named:
        env.act(Key(keys=keys))
        window.wait_for(lambda e, k=keysym: e["type"] == "key" and e["keysym"] == k)


def test_typing_ascii_metacharacters_and_non_ascii(env: DesktopEnvironment, window: EventWindow) -> None:
    text = "$(rm -rf /) `id` 'q' \"d\" <a>&|;~!*?#% \\n-x"
    env.act(Type(text=text))
    assert window.command("text")["text"] == text
    window.command("clear")
    env.act(Type(text="你好, wörld €"))
    assert window.command("text")["text"] == "你好, wörld €"
    window.command("clear")
    env.act(Type(text="line one\nline two"))
    assert window.command("text")["text"] == "line one\nline two"


def test_typing_reaches_a_window_too_busy_to_read_its_events_at_once(xvfb: str, window: EventWindow) -> None:
    # A loaded machine, made certain: the window reads the key events only after the typing is over. A keyboard
    # map changed back by then would make it drop the characters the map lacked; the driver keeps the keycodes
    # it lent them until it closes, and then gives them back. ☂ is typed by no other test here.
    text = "你好, wörld € ☂"
    typist = DesktopEnvironment(DesktopSettings(display=xvfb, settle_delay=0))
    try:
        os.kill(window.proc.pid, signal.SIGSTOP)
        try:
            typist.act(Type(text=text))
        finally:
            os.kill(window.proc.pid, signal.SIGCONT)
        # The window answers its pipe and its X events in turn: wait until it has read them all (or dropped some).
        deadline = time.monotonic() + 10
        while len(typed := window.command("text")["text"]) < len(text) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert typed == text
    finally:
        typist.close()
    from Xlib import display as xdisplay

    x = xdisplay.Display(xvfb)
    try:
        assert x.keysym_to_keycode(0x1000000 + ord("☂")) == 0  # its keycode was given back
    finally:
        x.close()


def test_typing_through_the_clipboard(xvfb: str, window: EventWindow) -> None:
    clip = DesktopEnvironment(DesktopSettings(display=xvfb, type_backend="clipboard", settle_delay=0.2))
    clip.act(Type(text="剪贴板 ok"))
    assert window.command("text")["text"] == "剪贴板 ok"
    clip.close()


def test_bad_actions_are_clear_errors(env: DesktopEnvironment, window: EventWindow) -> None:
    with pytest.raises(ActionFailed, match="unknown key 'hyperdrive'"):
        env.act(Key(keys=["hyperdrive"]))
    with pytest.raises(ActionFailed, match="agent loop"):
        env.act(Terminate(status="failure"))
    with pytest.raises(ActionFailed, match="agent loop"):
        env.act(Answer(text="x"))
    with pytest.raises(ActionFailed, match="outside monitor 1"):
        env.act(LeftClick(coordinate=(1280, 5)))
    with pytest.raises(ActionFailed, match="non-ASCII"):
        DesktopEnvironment(DesktopSettings(display=env.settings.display, type_backend="pyautogui")).act(Type(text="é"))


def test_fail_safe_corner_stops_the_agent(
    env: DesktopEnvironment, window: EventWindow, xvfb: str
) -> None:
    def user_moves_mouse(x: int, y: int) -> None:
        subprocess.run(["xdotool", "mousemove", str(x), str(y)], env=dict(os.environ, DISPLAY=xvfb), check=True)

    user_moves_mouse(1279, 0)
    with pytest.raises(EnvironmentUnavailable, match="fail-safe"):
        env.act(LeftClick(coordinate=(300, 300)))
    # The user moves the mouse away; the driver works again.
    user_moves_mouse(500, 500)
    env.act(LeftClick(coordinate=(300, 300)))
    (hit,) = presses(window, 1)
    assert (hit["x"], hit["y"]) == (300, 300)


@pytest.mark.parametrize(
    ("corner", "inward"), [((0, 0), (1, 1)), ((1279, 0), (1278, 1)), ((0, 799), (1, 798)), ((1279, 799), (1278, 798))]
)
def test_the_agents_own_corner_points_act_one_pixel_inward(
    env: DesktopEnvironment, window: EventWindow, corner: tuple[int, int], inward: tuple[int, int]
) -> None:
    # A corner is the user's stop; the model pointing there must neither stop the agent nor lose its click.
    env.act(DoubleClick(coordinate=corner))
    assert [(h["x"], h["y"]) for h in presses(window, 2)] == [inward] * 2
    env.act(MouseMove(coordinate=corner))
    env.act(LeftClick())  # the next call starts with the mouse where the agent left it
    (hit,) = presses(window, 1)
    assert (hit["x"], hit["y"]) == inward


def test_missing_display_and_monitor_are_clear_errors(
    xvfb: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(EnvironmentUnavailable, match="monitor 7 does not exist.*1: 1280x800 at \\(0, 0\\)"):
        DesktopEnvironment(DesktopSettings(display=xvfb, monitor=7)).observe()
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(EnvironmentUnavailable, match="DISPLAY is not set.*xvfb-run"):
        DesktopEnvironment(DesktopSettings()).observe()
    with pytest.raises(EnvironmentUnavailable, match="cannot connect to X display"):
        DesktopEnvironment(DesktopSettings(display=":64999")).observe()
