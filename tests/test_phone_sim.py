"""The simulated phone over the real chain: Debian's adb CLI and adbutils, through an adb server on a
private port. Assertions read the phone through adb; PhoneState is only used to set things up."""

from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import adbutils
import pytest
from PIL import Image

from environments.android_device import parse_raw_screencap
from tests.support.adb import AdbServer


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
    assert device.shell("input text 你好").startswith("Exception")  # as on Android: input text is ASCII only
