"""Escaping for `adb shell input text`: unit checks, then random text through the real adb shell path."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import adbutils
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from environments.android.text import (
    adb_keyboard_command, encode_for_input_text, input_text_commands, is_input_text_typable, shell_quote,
)
from environments.phone_sim.inputcmd import input_text_unescape
from environments.phone_sim.shellparse import split_commands
from tests.support.adb import AdbServer

METACHARACTERS = "$ ; & | < > ( ) # \\ ' \" ` * ? ~ !"
PRINTABLE = [chr(c) for c in range(32, 127)] + ["\t", "\n", "%s", "%", "%%s", "'\\''", "$(id)", "`id`"]


def device_words(line: str) -> list[str]:
    """argv the simulated device's sh makes of `line` (one command)."""
    (connector, argv), = split_commands(line, lambda name: "EXPANDED")
    return argv


def typed_by_device(text: str) -> str:
    """What the commands from input_text_commands type, as Android's sh + `input` would see them."""
    out = []
    for cmd in input_text_commands(text):
        argv = device_words(cmd)
        out.append("\n" if argv[:2] == ["input", "keyevent"] else input_text_unescape(argv[2]))
    return "".join(out)


def test_every_metacharacter_is_one_literal_word() -> None:
    for word in [METACHARACTERS, "it's", "a'b''c", "", "~root", "*", "#not a comment", "x\\"]:
        assert device_words(f"echo {shell_quote(word)}") == ["echo", word]


def test_spaces_become_percent_s_and_literal_percent_s_survives() -> None:
    assert encode_for_input_text("a b") == "a%sb"
    assert typed_by_device("100%sure and 5% off") == "100%sure and 5% off"
    assert typed_by_device("%%s % s %") == "%%s % s %"


def test_newlines_are_enter_keys_and_tabs_stay() -> None:
    cmds = input_text_commands("one\ntwo\tthree\r\n")
    assert cmds.count("input keyevent KEYCODE_ENTER") == 2
    assert typed_by_device("one\ntwo\tthree\r\n") == "one\ntwo\tthree\n"


def test_long_text_is_split_into_pieces() -> None:
    text = "x" * 450
    assert len(input_text_commands(text)) == 3
    assert typed_by_device(text) == text


def test_non_ascii_needs_adb_keyboard() -> None:
    assert is_input_text_typable("plain ASCII ~!@#$%^&*()\t\n")
    for text in ["你好", "emoji 😀", "café", "\x07"]:
        assert not is_input_text_typable(text)
        with pytest.raises(ValueError, match="adb_keyboard_command"):
            input_text_commands(text)
    cmd = adb_keyboard_command("你好 😀 'x'")
    argv = device_words(cmd)
    assert argv[:5] == ["am", "broadcast", "-a", "ADB_INPUT_B64", "--es"]
    assert base64.b64decode(argv[6]).decode() == "你好 😀 'x'"


@given(st.lists(st.sampled_from(PRINTABLE), max_size=40).map("".join))
def test_escaping_round_trips_through_the_device_shell_parser(text: str) -> None:
    assert typed_by_device(text) == text.replace("\r\n", "\n")


# -- through the real chain: adbutils -> adb server -> simulated phone ----------------------------------


def focused_text(device: adbutils.AdbDevice) -> str:
    xml = device.shell("uiautomator dump /sdcard/window_dump.xml && cat /sdcard/window_dump.xml", rstrip=False)
    root = ET.fromstring(xml[xml.index("<?xml"):])
    (node,) = [n for n in root.iter("node") if n.get("focused") == "true"]
    return node.get("text") or ""


@pytest.fixture(scope="module")
def note_field(adb_server: AdbServer, phone):
    device = adbutils.AdbClient(port=adb_server.port).device(phone.serial)
    device.shell("am start -n org.simphone.notes/.EditorActivity")
    device.shell("input tap 540 500")  # the note body
    return device, phone


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(PRINTABLE), min_size=1, max_size=30).map("".join))
def test_random_ascii_arrives_exactly_through_adb(note_field, text: str) -> None:
    device, phone = note_field
    with phone.state.lock:  # clearing the field is setup, not the thing tested
        phone.state.top.fields["org.simphone.notes:id/note_body"] = ""
    for cmd in input_text_commands(text):
        assert device.shell(cmd) == ""
    assert focused_text(device) == text.replace("\r\n", "\n")


def test_shell_quote_round_trips_through_adb_echo(note_field) -> None:
    device, _ = note_field
    for word in [METACHARACTERS, "it's $HOME `id` $(id) ~ *", "  two  spaces  "]:
        assert device.shell(f"echo -n {shell_quote(word)}", rstrip=False) == word


MKSH = shutil.which("mksh")


@pytest.mark.skipif(MKSH is None, reason="Debian's mksh is not installed (apt-get install mksh)")
@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(PRINTABLE + [" ", "  ", "~", "x=~", "${HOME}"]), min_size=1, max_size=30).map("".join))
def test_escaping_holds_in_mksh(tmp_path_factory, text: str) -> None:
    """Through mksh itself (Android's /system/bin/sh), with `input` a function that shows its arguments: every
    command hands `input` exactly two of them, so Android's `input text`, which types only the first after
    `text`, types all of it."""
    show = "input() { printf '%s\\0' \"$#\" \"$@\"; printf '\\1'; }"
    line = "; ".join([show, *input_text_commands(text)])
    out = subprocess.run([MKSH, "-c", line], cwd=tmp_path_factory.mktemp("sh"), capture_output=True, text=True,
                         env={"HOME": "/", "PATH": os.environ["PATH"]})
    assert out.returncode == 0, out.stderr
    typed = []
    for call in out.stdout.split("\1")[:-1]:
        count, verb, arg, _ = call.split("\0")
        assert count == "2"
        typed.append("\n" if verb == "keyevent" else input_text_unescape(arg))
    assert "".join(typed) == text.replace("\r\n", "\n")
