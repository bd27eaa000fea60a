"""The simulated phone over the real chain: Debian's adb CLI and adbutils, through an adb server on a
private port. Assertions read the phone through adb; PhoneState is only used to set things up."""

from __future__ import annotations

import io
import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import adbutils
import pytest
from PIL import Image

from environments.android.device import parse_raw_screencap
from environments.phone_sim import PhoneState
from environments.phone_sim.apps import build
from environments.phone_sim.render import MISSING, font_for, glyph, installed_fonts, render
from environments.phone_sim.shellparse import ShellSyntaxError, split_commands
from tests.support.adb import AdbServer
from tests.support.paths import DATA


@pytest.fixture(scope="module")
def device(adb_server: AdbServer, phone) -> adbutils.AdbDevice:
    return adbutils.AdbClient(port=adb_server.port).device(phone.serial)


def ui_nodes(device: adbutils.AdbDevice) -> list[ET.Element]:
    xml = device.shell("uiautomator dump && cat /sdcard/window_dump.xml")
    return list(ET.fromstring(xml[xml.index("<?xml"):]).iter("node"))


def centre(device: adbutils.AdbDevice, **match: str) -> tuple[int, int]:
    """Centre of the one node whose attributes match, from its `bounds="[l,t][r,b]"`."""
    nodes = [n for n in ui_nodes(device) if all(n.get(k) == v for k, v in match.items())]
    assert len(nodes) == 1, f"expected one node with {match}, found {len(nodes)}"
    l, t, r, b = (int(v) for v in nodes[0].get("bounds").replace("][", ",").strip("[]").split(","))
    return (l + r) // 2, (t + b) // 2


def tap(device: adbutils.AdbDevice, **match: str) -> None:
    x, y = centre(device, **match)
    assert device.shell(f"input tap {x} {y}") == ""


def test_adb_cli_attaches_and_runs_shell_v2(adb_server: AdbServer, phone) -> None:
    listing = adb_server.run("devices", "-l").stdout
    assert f"{phone.serial}" in listing and "model:SimPhone" in listing and " device " in listing
    out = adb_server.run("-s", phone.serial, "shell", "getprop ro.product.model; false")
    assert out.stdout == "SimPhone\n" and out.returncode == 1  # shell v2 carries the exit code
    refused = adb_server.run("-s", phone.serial, "shell", "echo `id` | cat")
    assert refused.returncode != 0 and "not supported" in refused.stderr  # never run on the host


def test_pull_and_push_through_sync(adb_server: AdbServer, phone, device, tmp_path: Path) -> None:
    local = tmp_path / "note.txt"
    assert adb_server.run("-s", phone.serial, "pull", "/sdcard/Notes/note-1.txt", str(local)).returncode == 0
    assert local.read_text() == "Shopping\nmilk, eggs"
    local.write_bytes(b"\x00binary\xffdata" * 5000)
    assert adb_server.run("-s", phone.serial, "push", str(local), "/sdcard/Download/blob.bin").returncode == 0
    assert device.sync.read_bytes("/sdcard/Download/blob.bin") == local.read_bytes()
    assert device.sync.stat("/sdcard/Download/blob.bin").size == 60000
    assert "blob.bin" in [f.path for f in device.sync.list("/sdcard/Download")]


def test_screencap_raw_and_png_agree_and_are_deterministic(device) -> None:
    device.shell("input keyevent KEYCODE_HOME")
    raw = device.shell("screencap", encoding=None)
    w, h, fmt, colour_space = struct.unpack_from("<4I", raw)
    assert (w, h, fmt) == (1080, 2400, 1) and len(raw) == 16 + w * h * 4
    png = Image.open(io.BytesIO(device.shell("screencap -p", encoding=None))).convert("RGB")
    assert png.size == (1080, 2400)
    assert png.tobytes() == parse_raw_screencap(raw).tobytes()
    assert device.shell("screencap", encoding=None) == raw  # fixed clock: same screen, same bytes


def test_parse_raw_screencap_accepts_12_byte_headers_and_rejects_junk() -> None:
    pixels = bytes([10, 20, 30, 255]) * 6
    old = struct.pack("<3I", 3, 2, 1) + pixels
    assert parse_raw_screencap(old).getpixel((2, 1)) == (10, 20, 30)
    bgra = struct.pack("<4I", 3, 2, 5, 1) + pixels
    assert parse_raw_screencap(bgra).getpixel((0, 0)) == (30, 20, 10)
    assert parse_raw_screencap(b"\x89PNG\r\n\x1a\n" + b"\0" * 40) is None
    assert parse_raw_screencap(old[:-1]) is None


def test_window_packages_and_launching(device) -> None:
    assert device.shell("wm size") == "Physical size: 1080x2400"
    assert device.shell("wm density") == "Physical density: 420"
    assert "package:com.android.settings" in device.shell("pm list packages").splitlines()
    out = device.shell("cmd package resolve-activity --brief -c android.intent.category.LAUNCHER org.simphone.notes")
    assert out.splitlines()[-1] == "org.simphone.notes/.NotesActivity"
    assert "Events injected: 1" in device.shell("monkey -p com.android.contacts -c android.intent.category.LAUNCHER 1")
    assert "mCurrentFocus=Window{1f2e3d4 u0 com.android.contacts/" in device.shell("dumpsys window")
    assert "does not exist" in device.shell("am start -n com.example/.Nope")
    assert "No activities found" in device.shell("monkey -p com.example.nope 1")


def test_settings_toggle_by_tap_and_by_command(device) -> None:
    device.shell("am start -n com.android.settings/.Settings")
    before = device.shell("settings get global wifi_on")
    tap(device, **{"resource-id": "com.android.settings:id/wifi_switch"})
    assert device.shell("settings get global wifi_on") == {"1": "0", "0": "1"}[before]
    node = next(n for n in ui_nodes(device) if n.get("resource-id") == "com.android.settings:id/wifi_switch")
    assert node.get("checked") == ("true" if before == "0" else "false")
    device.shell("settings put global bluetooth_on 1")
    node = next(n for n in ui_nodes(device) if n.get("resource-id") == "com.android.settings:id/bluetooth_switch")
    assert node.get("checked") == "true"


def test_add_contact_through_the_ui(device) -> None:
    device.shell("am start -n com.android.contacts/.activities.PeopleActivity")
    tap(device, text="Add contact")
    tap(device, **{"resource-id": "com.android.contacts:id/name"})
    device.shell("input text 'Zoe%sO'\\''Neil'")
    tap(device, **{"resource-id": "com.android.contacts:id/phone"})
    device.shell("input text '+44%s20%s7946%s0000'")
    tap(device, text="Save")
    rows = device.shell("content query --uri content://contacts/phones/ --projection display_name:number")
    assert "Row: 2 display_name=Zoe O'Neil, number=+44 20 7946 0000" in rows.splitlines()
    assert "com.android.contacts/.activities.PeopleActivity" in device.shell("dumpsys window")


def test_notes_and_expenses_keep_state_adb_can_read(device) -> None:
    device.shell("am start -n org.simphone.notes/.NotesActivity")
    tap(device, text="New note")
    tap(device, **{"resource-id": "org.simphone.notes:id/note_body"})
    device.shell("input text 'Call%smum' && input keyevent KEYCODE_ENTER && input text 'at%s6'")
    tap(device, text="Save")
    assert device.shell("cat /sdcard/Notes/note-2.txt") == "Call mum\nat 6"
    device.shell("am start -n org.simphone.expenses/.ExpensesActivity")
    assert device.shell("content query --uri content://org.simphone.expenses/expenses") == "No result found."
    tap(device, text="Add expense")
    tap(device, **{"resource-id": "org.simphone.expenses:id/name"})
    device.shell("input text Lunch")
    tap(device, **{"resource-id": "org.simphone.expenses:id/amount"})
    device.shell("input text 12.50")
    tap(device, text="Save")
    assert device.shell("content query --uri content://org.simphone.expenses/expenses") == \
        "Row: 0 _id=1, name=Lunch, amount=12.50"


def test_input_text_types_its_first_argument_only(device) -> None:
    # As Android's InputShellCommand does (getNextArgRequired): an unescaped space splits the text, and only the
    # first word arrives. A driver that forgets to escape spaces as %s is caught here.
    device.shell("am start -n org.simphone.notes/.EditorActivity")
    tap(device, **{"resource-id": "org.simphone.notes:id/note_body"})
    device.shell("input text call mum%sat 6")
    assert 'text="call"' in device.shell("uiautomator dump /dev/tty")
    assert 'Argument expected after "text"' in device.shell("input text")


def test_adb_keyboard_only_types_while_it_is_the_ime(device) -> None:
    device.shell("am start -n org.simphone.notes/.EditorActivity")
    tap(device, **{"resource-id": "org.simphone.notes:id/note_body"})
    cmd = "am broadcast -a ADB_INPUT_B64 --es msg 5L2g5aW9"  # "你好"
    assert "Broadcast completed: result=0" in device.shell(cmd)
    assert device.shell("cat /sdcard/window_dump.xml") and "你好" not in device.shell("uiautomator dump /dev/tty")
    assert "selected" in device.shell("ime set com.android.adbkeyboard/.AdbIME")
    device.shell(cmd)
    assert 'text="你好"' in device.shell("uiautomator dump /dev/tty")
    device.shell("ime set com.android.inputmethod.latin/.LatinIME")
    # As on Android: input text is ASCII only, and the key map's null answer is an exception.
    refusal = device.shell("input text 你好")
    assert "Exception occurred while executing 'text':\njava.lang.NullPointerException" in refusal


# -- held to the real thing: Android's `input` (tests/data/android_reference.md) and mksh -----------------

REFERENCE = (DATA / "android_reference.md").read_text()


def reference_block(name: str) -> str:
    m = re.search(rf"^```{name}\n(.*?)^```", REFERENCE, re.S | re.M)
    assert m, f"no ```{name} block in tests/data/android_reference.md"
    return m.group(1)


def adb_shell(adb_server: AdbServer, phone, line: str) -> subprocess.CompletedProcess[str]:
    """`adb shell LINE` through Debian's adb CLI, which hands back the device's exit status (shell v2)."""
    return adb_server.run("-s", phone.serial, "shell", line)


def test_input_usage_is_androids(adb_server: AdbServer, phone) -> None:
    usage = reference_block("input-usage")
    for line in ("input", "input help", "input -h", "cmd input"):
        out = adb_shell(adb_server, phone, line)
        assert (out.stdout, out.stderr, out.returncode) == (usage, "", 0), line


def test_input_errors_are_androids(adb_server: AdbServer, phone) -> None:
    cases = [c for c in re.split(r"^\$ ", reference_block("input-errors"), flags=re.M) if c.strip()]
    assert len(cases) == 3
    for case in cases:
        line, how, expected = case.split("\n", 2)
        stream, code = re.fullmatch(r"\((stdout|stderr), exit (\d+)\)", how).groups()
        out = adb_shell(adb_server, phone, line)
        got = out.stdout if stream == "stdout" else out.stderr
        assert out.returncode == int(code) and got.startswith(expected.rstrip("\n") + "\n"), (line, out)


@pytest.mark.parametrize("line, code, says", [
    ("input tap 100", 255, 'IllegalArgumentException: Argument expected after "100"'),
    ("input tap 1_0 5", 255, "Invalid arguments for command: tap"),  # Python's float() would take 1_0
    ("input tap nan 5", 255, "Invalid arguments for command: tap"),  # Java spells it NaN
    ("input swipe 1 2 3 4 5.5", 255, "Invalid arguments for command: swipe"),  # durations are integers
    ("input swipe 1 2 3", 255, 'Argument expected after "3"'),
    ("input keyboard", 255, "executing 'keyboard':\njava.lang.IllegalArgumentException: Argument expected"),
    ("input -d one tap 1 1", 255, "Error: Invalid arguments for display ID."),
    ("input keyevent --delay x 3", 255, "Invalid arguments for command: keyevent"),
    ("input keyevent --longpress", 255, "java.lang.NullPointerException"),
    ("input motionevent PRESS 1 1", 255, "Unknown action: PRESS"),
    ("input keycombination KEYCODE_CTRL_LEFT", 255, "Unknown keycode: KEYCODE_CTRL_LEFT"),
    ("input keycombination KEYCODE_A", 255, "keycombination requires at least 2 keycodes"),
    ("input roll 1", 255, 'Argument expected after "1"'),
    ("input fly", 0, "Unknown command: fly"),
    ("input keyevent NOT_A_KEY", 0, ""),  # KEYCODE_UNKNOWN, sent without a word
    ("input tap 5000 5000 and more", 0, ""),  # off the display, extra arguments ignored
    ("input tap ' 50 ' 60f", 0, ""),  # Java trims and takes a float suffix
    ("input touchscreen -d DEFAULT_DISPLAY tap 0x1p4 1e1", 0, ""),
    ("input press && input roll 1 -1 && input draganddrop 5 5 9 9 -7", 0, ""),
])
def test_input_refuses_where_android_does(adb_server: AdbServer, phone, line: str, code: int, says: str) -> None:
    out = adb_shell(adb_server, phone, line)
    assert out.returncode == code, out
    assert says in (out.stdout + out.stderr) if says else (out.stdout, out.stderr) == ("", "")


def test_motionevent_down_up_is_a_tap(device) -> None:
    device.shell("am start -n com.android.settings/.Settings")
    before = device.shell("settings get global bluetooth_on")
    x, y = centre(device, **{"resource-id": "com.android.settings:id/bluetooth_switch"})
    for line in (f"input motionevent DOWN {x} {y}", f"input motionevent move {x + 2} {y}",
                 f"input motionevent UP {x + 2} {y}", "input motionevent CANCEL"):
        assert device.shell(line) == ""
    assert device.shell("settings get global bluetooth_on") != before


def test_am_start_failure_has_exit_status_zero(adb_server: AdbServer, phone) -> None:
    out = adb_shell(adb_server, phone, "am start -n com.example/.Nope")
    assert out.returncode == 0 and out.stdout == "Starting: Intent { cmp=com.example/.Nope }\n"
    assert out.stderr == "Error type 3\nError: Activity class {com.example/.Nope} does not exist.\n"


MKSH = shutil.which("mksh")
# Arguments to `printf '<%s>'`, each word shown in <>; and whole lines that are syntax errors.
SHELL_WORDS = [
    "a 'b c' \"d $HOME e\" f\\ g", "~ ~/x a~ '~' \"~\" x=~", "${HOME}x $NOPE. \"$NOPE\"", "a#b #c", "x\\",
    "'a'\\''b'", "\"a\\$b\\\"c\\\\d\\e\"", "a; printf '<%s>' b", "a && printf '<%s>' b", "\"multi\nline\"",
    "'it''s'", "a\\\nb", "'$(id)' '`id`' \"\\`\"",
]
SHELL_ERRORS = ["echo 'unclosed", "echo \"unclosed", "echo ${HOME", "echo a;;", "&& echo a", "echo a &&",
                "echo a ||", "; echo a", "echo a; ; echo b", "echo a\n;"]


def mksh(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # An empty directory, so a glob matches nothing, as on the simulated device.
    return subprocess.run([MKSH, "-c", line], cwd=cwd, capture_output=True, text=True,
                          env={"HOME": "/", "PATH": os.environ["PATH"]})


@pytest.mark.skipif(MKSH is None, reason="Debian's mksh is not installed (apt-get install mksh)")
def test_the_sim_shell_splits_and_refuses_as_mksh_does(tmp_path: Path) -> None:
    """mksh is what Android ships as /system/bin/sh: the sim's parser must make the same words of a line, and
    refuse the same lines with the same message."""
    home = {"HOME": "/"}
    for words in SHELL_WORDS:
        line = f"printf '<%s>' {words}"
        real = mksh(line, tmp_path)
        assert real.returncode == 0, (line, real.stderr)
        ours = "".join(f"<{w}>" for _, argv in split_commands(line, lambda n: home.get(n, "")) for w in argv[2:])
        assert real.stdout == ours, line
    for line in SHELL_ERRORS:
        real = mksh(line, tmp_path)
        with pytest.raises(ShellSyntaxError) as refused:
            split_commands(line, lambda n: home.get(n, ""))
        # Debian's build says "E: /usr/bin/mksh: MESSAGE"; the message is what must agree.
        assert real.returncode == 1 and real.stderr.endswith(f"mksh: {refused.value}\n"), line


def test_the_shell_refuses_over_adb(adb_server: AdbServer, phone) -> None:
    out = adb_shell(adb_server, phone, "input text 'it''s")
    assert out.returncode == 1 and out.stderr == "/system/bin/sh: no closing quote\n"
    out = adb_shell(adb_server, phone, "input keyevent 3 &&")
    assert out.returncode == 1 and out.stderr == "/system/bin/sh: syntax error: unexpected EOF\n"


def test_chinese_text_is_drawn_not_boxed() -> None:
    listed = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True) if shutil.which(
        "fc-list") else None
    if listed is None or not listed.stdout.strip():
        pytest.skip("no CJK font is installed (apt-get install fonts-wqy-zenhei, as scripts/install.sh does)")
    state = PhoneState(files={})
    for text in ("你好", "世界", MISSING * 2):  # the last: two characters no font has, drawn as its boxes
        state.add_note(text)
    state.start("org.simphone.notes", ".NotesActivity")
    img = render(state)
    rows = [img.crop(w.bounds).tobytes() for w in build(state) if w.rid == "org.simphone.notes:id/note_title"]
    assert len(rows) == 3
    # Boxes would make all three rows alike: two different characters drawn as their glyphs are not.
    assert len(set(rows)) == 3, f"CJK text drawn as missing-glyph boxes; fonts found: {installed_fonts()}"
    cjk = font_for(44, "你")
    assert glyph(cjk, "你") != glyph(cjk, MISSING) and glyph(cjk, "你") != glyph(cjk, "好")
