"""AndroidEnvironment over the real chain (adbutils -> adb server -> simulated phone): every mobile action
changes the phone as it should, text arrives exactly, and a phone that goes away ends the episode."""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actions.base import Type, Wait
from actions.geometry import ImageBudget
from actions.mobile import Click, LongPress, MobileKey, Open, Swipe, SystemButton
from actions.space import MOBILE
from agent.config import AgentConfig
from agent.loop import Agent
from agent.models.replay import ReplayBackend
from agent.recording import load_episode
from loguru import logger

from environments.android.driver import AndroidEnvironment, AndroidSettings
from environments.android.device import AdbDevice
from environments.android.shell import ShellResult, refused
from environments.base import ActionFailed, EnvironmentUnavailable
from environments.phone_sim import PhoneServer
from environments.phone_sim import apps as sim_apps
from environments.phone_sim import commands as sim_commands
from tests.support.adb import AdbServer, start_phone

FAST = dict(settle_delay=0.0, ime_switch_wait_s=0.0, reconnect_timeout_s=1.5)


@pytest.fixture(scope="module")
def env(adb_server: AdbServer, phone) -> Iterator[AndroidEnvironment]:
    e = AndroidEnvironment(AndroidSettings(serial=phone.serial, adb_port=adb_server.port, **FAST))
    yield e
    e.close()


def sh(env: AndroidEnvironment, cmd: str) -> str:
    return env.shell(cmd)


def own_device(env: AndroidEnvironment) -> AdbDevice:
    """A connection of the test's own to the environment's phone, to check the phone apart from the driver."""
    s = env.settings
    return AdbDevice(env.serial, s.adb_host, s.adb_port, None, s.timeout_s, s.reconnect_timeout_s)


def foreground(env: AndroidEnvironment) -> str:
    return env.observe().extras.foreground_activity


def centre_of(env: AndroidEnvironment, attr: str, value: str) -> tuple[int, int]:
    xml = sh(env, "uiautomator dump /dev/tty")
    m = re.search(rf'{attr}="{re.escape(value)}"[^>]*bounds="\[(\d+),(\d+)\]\[(\d+),(\d+)\]"', xml)
    assert m, f"no node with {attr}={value!r} on screen"
    l, t, r, b = map(int, m.groups())
    return (l + r) // 2, (t + b) // 2


def test_observation_of_the_launcher(env: AndroidEnvironment) -> None:
    assert env.action_space is MOBILE
    obs = env.reset()
    assert obs.screenshot.size == (1080, 2400) and obs.geometry.scale == 1.0
    assert obs.extras.foreground_package == "com.android.launcher3"
    assert obs.extras.black_frame is None


def test_open_by_name_starts_the_right_app(env: AndroidEnvironment) -> None:
    for name, activity in [("Settings", "com.android.settings.Settings"),
                           ("contacts", "com.android.contacts.activities.PeopleActivity"),
                           ("Expenses", "org.simphone.expenses.ExpensesActivity"),
                           ("org.simphone.notes", "org.simphone.notes.NotesActivity"),
                           ("alarm", "com.android.deskclock.DeskClock")]:
        env.act(Open(text=name))
        assert foreground(env) == activity


def test_unknown_app_lists_close_matches(env: AndroidEnvironment) -> None:
    with pytest.raises(ActionFailed, match=r"no app called 'Setings'.*close matches: settings"):
        env.act(Open(text="Setings"))
    with pytest.raises(ActionFailed, match="no app called 'Photoshop'"):
        env.act(Open(text="Photoshop"))
    # A garbled name is cut short: the model reads the message, and the logs keep it.
    with pytest.raises(ActionFailed, match="no app called 'x+…'") as failed:
        env.act(Open(text="x" * 300))
    assert len(str(failed.value)) < 300


def test_click_toggles_wifi_and_off_screen_click_is_refused(env: AndroidEnvironment) -> None:
    env.act(Open(text="Settings"))
    before = sh(env, "settings get global wifi_on")
    env.act(Click(coordinate=centre_of(env, "text", "Wi-Fi")))
    assert sh(env, "settings get global wifi_on") != before
    with pytest.raises(ActionFailed, match=r"outside the 1080x2400 screen"):
        env.act(Click(coordinate=(1080, 100)))


def test_swipe_moves_the_brightness_slider(env: AndroidEnvironment) -> None:
    env.act(Open(text="Settings"))
    x, y = centre_of(env, "text", "Brightness")
    y += 20
    env.act(Swipe(coordinate=(x, y), coordinate2=(60, y)))
    assert int(sh(env, "settings get system screen_brightness")) < 10
    env.act(Swipe(coordinate=(60, y), coordinate2=(1020, y)))
    assert int(sh(env, "settings get system screen_brightness")) > 245


def test_long_press_deletes_a_note(env: AndroidEnvironment) -> None:
    sh(env, "am start -n org.simphone.notes/.NotesActivity")
    assert "note-1.txt" in sh(env, "ls /sdcard/Notes")
    env.act(LongPress(coordinate=centre_of(env, "text", "Shopping"), time=0.6))
    assert "note-1.txt" not in sh(env, "ls /sdcard/Notes")


def new_note(env: AndroidEnvironment) -> None:
    env.act(Open(text="Notes"))
    env.act(Click(coordinate=centre_of(env, "text", "New note")))
    env.act(Click(coordinate=centre_of(env, "resource-id", "org.simphone.notes:id/note_body")))


def saved_note(env: AndroidEnvironment) -> str:
    env.act(Click(coordinate=centre_of(env, "text", "Save")))
    last = sh(env, "ls /sdcard/Notes").split()[-1]
    return own_device(env).device.sync.read_text(f"/sdcard/Notes/{last}")


@pytest.mark.parametrize("text", [
    "every $ ; & | < > ( ) # \\ ' \" ` * ? ~ ! and $(reboot) `id` %s 100% done",
    "two\nlines\n\nand a tab\there",
    "中文输入 and emoji 😀👍🏽 mixed with 'quotes' \"too\"\nnew line",
])
def test_typed_text_arrives_exactly(env: AndroidEnvironment, text: str) -> None:
    new_note(env)
    env.act(Type(text=text))
    assert env.observe().warnings == ()  # the read-back through uiautomator agreed
    assert saved_note(env) == text
    # ADBKeyboard was switched in for non-ASCII only, and the user's keyboard put back.
    assert sh(env, "settings get secure default_input_method") == "com.android.inputmethod.latin/.LatinIME"


# Any text a person might type: letters of every script, emoji, symbols, ASCII punctuation, newlines and
# tabs (not the C0 controls, which no keyboard types and XML cannot carry).
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\n\t'\"$`\\%s"),
                   min_size=1, max_size=25)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=ANY_TEXT)
def test_random_text_round_trips_through_the_driver(env: AndroidEnvironment, phone, text: str) -> None:
    if "org.simphone.notes/.EditorActivity" not in sh(env, "dumpsys window"):
        new_note(env)
    with phone.state.lock:  # clearing the field is setup
        phone.state.top.fields["org.simphone.notes:id/note_body"] = ""
    env.act(Type(text=text))
    xml = sh(env, "uiautomator dump /dev/tty")
    root = ET.fromstring(xml[xml.index("<?xml"):xml.rindex(">") + 1])
    (node,) = [n for n in root.iter("node") if n.get("focused") == "true"]
    assert node.get("text") == text


def test_non_ascii_without_adb_keyboard_is_a_clear_error(env: AndroidEnvironment, phone) -> None:
    new_note(env)
    phone.state.adb_keyboard_installed = False  # setup: a phone without ADBKeyboard
    env._packages = None
    try:
        with pytest.raises(ActionFailed, match="ADBKeyboard.*not installed.*ime enable") as failed:
            env.act(Type(text="你好"))
        assert "你好" not in str(failed.value)  # typed text may be a secret: messages leave it out
    finally:
        phone.state.adb_keyboard_installed = True
        env._packages = None


def test_typing_with_no_focused_field_is_reported(env: AndroidEnvironment) -> None:
    env.act(Open(text="Clock"))
    secret = "s3cr'et\\pw"  # repr would escape both the quote and the backslash
    env.act(Type(text=secret))
    (warning,) = env.observe().warnings
    # The typed text may be a revealed secret, which redaction only finds verbatim: it stays out entirely.
    assert warning.startswith(f"typed {len(secret)} characters but no field has focus")
    assert "s3cr" not in warning


def test_a_driver_warning_reaches_the_next_prompt(env: AndroidEnvironment, tmp_path) -> None:
    env.act(Open(text="Clock"))
    budget = ImageBudget()
    w, h = budget.resized_size(1080, 2400)
    calls = [{"action": "type", "text": "hello"}, {"action": "terminate", "status": "failure"}]
    texts = [f'<tool_call>\n{json.dumps({"name": "mobile_use", "arguments": c})}\n</tool_call>' for c in calls]
    Agent(env, ReplayBackend(texts, budget), AgentConfig()).run("type hello", tmp_path / "ep")
    _, steps = load_episode(tmp_path / "ep")
    first, second = ("".join(p.get("text", "") for p in s.messages[-1]["content"]) for s in steps)
    assert "Note:" not in first
    # One line after the query, as the no-change note is, before the screenshot.
    assert second.endswith("\nNote: typed 5 characters but no field has focus: tap a text field first\n")
    assert steps[1].extras["warnings"] == ["typed 5 characters but no field has focus: tap a text field first"]
    assert (w, h) == tuple(steps[0].model_image)


def test_system_buttons(env: AndroidEnvironment) -> None:
    new_note(env)
    env.act(SystemButton(button="Enter"))
    env.act(Type(text="x"))
    env.act(SystemButton(button="Back"))  # hides the keyboard
    env.act(SystemButton(button="Back"))  # leaves the editor
    assert foreground(env) == "org.simphone.notes.NotesActivity"
    env.act(SystemButton(button="Menu"))
    assert foreground(env) == "com.android.systemui.recents.RecentsActivity"
    env.act(SystemButton(button="Home"))
    assert foreground(env) == "com.android.launcher3.Launcher"


def test_keys_by_name_and_unknown_keys(env: AndroidEnvironment) -> None:
    before = int(sh(env, "settings get system volume_music").replace("null", "7"))
    env.act(MobileKey(text="volume_up"))
    env.act(MobileKey(text="KEYCODE_VOLUME_UP"))
    assert int(sh(env, "settings get system volume_music")) == before + 2
    with pytest.raises(ActionFailed, match="unknown key 'volume_upp'.*VOLUME_UP"):
        env.act(MobileKey(text="volume_upp"))


def test_png_screenshots_when_raw_is_off(adb_server: AdbServer, phone) -> None:
    e = AndroidEnvironment(AndroidSettings(serial=phone.serial, adb_port=adb_server.port, raw_screencap=False))
    assert e.observe().screenshot.size == (1080, 2400)


def test_wait_waits(env: AndroidEnvironment) -> None:
    t = time.monotonic()
    env.act(Wait(time=0.3))
    assert time.monotonic() - t >= 0.3


def test_black_frame_is_flagged(env: AndroidEnvironment, phone) -> None:
    phone.state.secure_window = True
    phone.state.touch()
    try:
        obs = env.observe()
        assert obs.extras.black_frame is True and "secure window" in obs.warnings[0]
    finally:
        phone.state.secure_window = False
        phone.state.touch()


def test_override_size_and_rotation_set_the_geometry(env: AndroidEnvironment) -> None:
    try:
        sh(env, "wm size 720x1600")
        assert env.observe().screenshot.size == (720, 1600)
        assert own_device(env).screen_info().override == (720, 1600)
        sh(env, "settings put system user_rotation 1")
        info = own_device(env).screen_info()
        assert info.rotation == 1 and info.size == (1600, 720)
        assert env.observe().geometry.width == 1600
        with pytest.raises(ActionFailed, match="outside the 1600x720 screen"):
            env.act(Click(coordinate=(700, 1000)))
    finally:
        sh(env, "settings put system user_rotation 0")
        sh(env, "wm size reset")
    assert env.observe().screenshot.size == (1080, 2400)


def test_device_selection_errors(adb_server: AdbServer, phone) -> None:
    with pytest.raises(EnvironmentUnavailable, match=rf"'emulator-5554' is not attached; attached: {phone.serial}"):
        AndroidEnvironment(AndroidSettings(serial="emulator-5554", adb_port=adb_server.port))
    second = start_phone(adb_server)
    try:
        with pytest.raises(EnvironmentUnavailable, match=r"2 devices are attached.*choose one with --serial \(AndroidSettings.serial\)"):
            AndroidEnvironment(AndroidSettings(adb_port=adb_server.port))
    finally:
        adb_server.run("disconnect", second.serial)
        second.stop()


def test_pulling_the_plug_ends_the_episode(adb_server: AdbServer) -> None:
    doomed = start_phone(adb_server)
    env = AndroidEnvironment(AndroidSettings(serial=doomed.serial, adb_port=adb_server.port, **FAST))
    env.act(Open(text="Settings"))
    doomed.stop()
    t = time.monotonic()
    with pytest.raises(EnvironmentUnavailable, match="one reconnect attempt failed|even after a reconnect"):
        env.act(Click(coordinate=(100, 100)))
    assert time.monotonic() - t < 15
    adb_server.run("disconnect", doomed.serial)


def test_unauthorized_device_is_explained(adb_server: AdbServer) -> None:
    locked = PhoneServer(authorized=False).start()
    try:
        adb_server.run("connect", locked.serial)
        deadline = time.monotonic() + 10
        while "unauthorized" not in adb_server.run("devices").stdout and time.monotonic() < deadline:
            time.sleep(0.2)
        with pytest.raises(EnvironmentUnavailable, match="'unauthorized'.*Allow USB debugging"):
            AndroidEnvironment(AndroidSettings(serial=locked.serial, adb_port=adb_server.port))
    finally:
        adb_server.run("disconnect", locked.serial)
        locked.stop()


def test_key_names_that_only_look_like_numbers_are_unknown() -> None:
    from actions.mobile_keys import normalise_key

    assert normalise_key("66") == "KEYCODE_ENTER" and normalise_key("²") is None and normalise_key("①") is None


# -- refusals, read as Android tells them (tests/data/android_reference.md) ----------------------------------


def test_refused_follows_the_reference() -> None:
    usage = "Usage: input [<source>] [-d DISPLAY_ID] <command> [<arg>...]\n\nThe sources are: \n      keyboard"
    # Android 11 and older: `input` prints the usage and an Error line to stderr, and exits 0.
    assert refused(ShellResult(usage + '\n\nError: Argument expected after "text"', usage, 0))
    # Android 12 and newer: the shell command handler's exception, status 255.
    trace = "\nException occurred while executing 'tap':\njava.lang.IllegalArgumentException: Argument expected"
    assert refused(ShellResult(trace.strip(), trace.strip(), 255))
    # `am start` exits 0 whatever happened; the Error lines are the failure.
    assert refused(ShellResult("Starting: Intent { cmp=com.example/.Nope }\nError type 3\nError: Activity class "
                               "{com.example/.Nope} does not exist.", "Error type 3", 0))
    assert not refused(ShellResult("Starting: Intent { cmp=org.mirror.app/.Main }\nWarning: Activity not started, "
                                   "its current task has been brought to the front", "Warning: ...", 0))
    assert not refused(ShellResult("WARNING: linker: libdvm.so has text relocations. This is wasting memory and is "
                                   "a security risk. Please fix.", "", 0))
    assert refused(ShellResult("/system/bin/sh: input: can't execute: Permission denied", "", 126))


def refuse_input(monkeypatch: pytest.MonkeyPatch, stderr: str, status: int) -> None:
    """The simulated phone answers every `input` with `stderr` and `status` (it runs in this process)."""
    monkeypatch.setitem(sim_commands.COMMANDS, "input", lambda state, args: (b"", stderr.encode(), status))


def test_a_refused_input_is_read_from_the_exit_status(env: AndroidEnvironment, monkeypatch) -> None:
    env.act(Open(text="Settings"))
    # No "error" and no "exception" in the answer: only the exit status tells that nothing happened.
    refuse_input(monkeypatch, "/system/bin/sh: input: can't execute: Permission denied\n", 126)
    for action in (Click(coordinate=(10, 10)), LongPress(coordinate=(10, 10), time=0.5),
                   Swipe(coordinate=(10, 10), coordinate2=(500, 10)), SystemButton(button="Home"),
                   MobileKey(text="volume_up")):
        with pytest.raises(ActionFailed, match=r"refused `input \w+ .*` \(exit status 126\): .*Permission "
                                               r"denied; try the same `adb shell` command by hand"):
            env.act(action)


def test_a_locked_input_on_xiaomi_says_what_to_turn_on(env: AndroidEnvironment, monkeypatch) -> None:
    refuse_input(monkeypatch, "\nException occurred while executing 'tap':\njava.lang.SecurityException: Injecting "
                 "input events requires the caller (or the source of the instrumentation, if any) to have the "
                 "INJECT_EVENTS permission.\n", 255)
    with pytest.raises(ActionFailed, match=r"exit status 255.*USB debugging \(Security settings\)"):
        env.act(Click(coordinate=(10, 10)))


def test_refused_typing_leaves_the_text_out(env: AndroidEnvironment, monkeypatch) -> None:
    refuse_input(monkeypatch, "\nException occurred while executing 'text':\njava.lang.SecurityException: no "
                 "'hunter2' here\n", 255)
    with pytest.raises(ActionFailed, match=r"input text \(7 characters\) failed.*exit status 255") as failed:
        env.act(Type(text="hunter2"))
    assert "hunter2" not in str(failed.value)


def test_am_start_failing_with_status_zero_falls_back_to_monkey(env: AndroidEnvironment, monkeypatch) -> None:
    # `am start` of a component the phone lacks: an Error line and exit status 0, as on Android.
    monkeypatch.setattr(sim_apps, "ACTIVITIES", sim_apps.ACTIVITIES - {"com.android.deskclock/.DeskClock"})
    said: list[str] = []
    sink = logger.add(lambda m: said.append(m.record["message"]), level="DEBUG")
    try:
        env.act(Open(text="Clock"))
    finally:
        logger.remove(sink)
    assert foreground(env) == "com.android.deskclock.DeskClock"
    assert any("am start -n com.android.deskclock/.DeskClock failed" in m and "trying monkey" in m for m in said)


def test_a_phone_without_shell_v2_reads_the_status_from_a_marker(adb_server: AdbServer, monkeypatch) -> None:
    old = PhoneServer(shell_v2=False).start()  # adbd before Android 7: no exit status of its own
    adb_server.connect(old.serial)
    try:
        e = AndroidEnvironment(AndroidSettings(serial=old.serial, adb_port=adb_server.port, **FAST))
        e.act(Open(text="Settings"))
        assert (e.run("echo hi; false").output, e.run("false").status) == ("hi", 1)
        assert foreground(e) == "com.android.settings.Settings"
        refuse_input(monkeypatch, "/system/bin/sh: input: can't execute: Permission denied\n", 126)
        with pytest.raises(ActionFailed, match=r"exit status 126"):
            e.act(Click(coordinate=(10, 10)))
    finally:
        adb_server.run("disconnect", old.serial)
        old.stop()
