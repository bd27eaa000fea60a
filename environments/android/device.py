"""The ADB connection under the Android driver: choosing a device, running shell commands with one
reconnect attempt, reading the screen's size and rotation, and taking screenshots at native resolution."""

from __future__ import annotations

import io
import re
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import adbutils
from adbutils.errors import AdbError, AdbTimeout
from loguru import logger
from PIL import Image

from environments.android.shell import ShellResult
from environments.base import EnvironmentUnavailable

# What went wrong when a device is listed but not usable, and what the user can do about it.
STATE_HELP = {
    "offline": "the device is listed but not responding: replug it, or run `adb reconnect`",
    "unauthorized": "the device has not authorised this computer: unlock it and accept the "
                    "'Allow USB debugging?' prompt (tick 'Always allow'), then try again",
    "no permissions": "the adb server may not open the USB device: add a udev rule for it "
                      "(see https://developer.android.com/studio/run/device) or run the adb server as your user",
    "recovery": "the device is in recovery mode; boot it normally",
    "bootloader": "the device is in its bootloader; boot it normally",
}
T = TypeVar("T")
TRANSPORT_ERRORS = (AdbError, AdbTimeout, ConnectionError, socket.timeout, OSError, EOFError)


@dataclass(frozen=True)
class ScreenInfo:
    physical: tuple[int, int]
    override: tuple[int, int] | None
    density: int | None
    rotation: int

    @property
    def size(self) -> tuple[int, int]:
        """The size `input` acts in now: override (else physical), swapped when turned by 90 or 270 degrees."""
        w, h = self.override or self.physical
        return (h, w) if self.rotation % 2 else (w, h)


def _describe(devices: list[adbutils.AdbDeviceInfo]) -> str:
    if not devices:
        return "no devices are attached"
    return "attached: " + ", ".join(f"{d.serial} ({d.state})" for d in devices)


class AdbDevice:
    """One chosen device on one adb server. Every call goes through `shell`, which retries once after a
    reconnect and raises EnvironmentUnavailable when the device stays gone."""

    def __init__(self, serial: str | None, host: str, port: int | None, connect: str | None,
                 timeout_s: float, reconnect_timeout_s: float) -> None:
        self.client = adbutils.AdbClient(host=host, port=port, socket_timeout=timeout_s)
        self.timeout_s = timeout_s
        self.reconnect_timeout_s = reconnect_timeout_s
        self.connect_addr = connect or (serial if serial and _is_network_serial(serial) else None)
        try:
            if self.connect_addr:
                reply = self.client.connect(self.connect_addr, timeout=timeout_s)
                logger.info("adb connect {}: {}", self.connect_addr, reply.strip())
                serial = serial or self.connect_addr
            self.serial = self._choose(serial)
        except TRANSPORT_ERRORS as e:
            raise EnvironmentUnavailable(
                f"cannot reach the adb server at {host}:{port or 'default port'} ({e}); is `adb` installed and "
                "on PATH? Start it with `adb start-server`") from e
        self.device = self.client.device(self.serial)
        self._shell_v2: bool | None = None  # asked on first use

    def _choose(self, serial: str | None) -> str:
        devices = self.client.list()
        if serial is not None:
            found = next((d for d in devices if d.serial == serial), None)
            if found is None:
                raise EnvironmentUnavailable(f"device {serial!r} is not attached; {_describe(devices)}")
            if found.state != "device":
                raise EnvironmentUnavailable(
                    f"device {serial} is '{found.state}': {STATE_HELP.get(found.state, 'it is not ready')}")
            return serial
        ready = [d for d in devices if d.state == "device"]
        if len(ready) == 1:
            return ready[0].serial
        if not ready:
            hints = "; ".join(f"{d.serial}: {STATE_HELP.get(d.state, d.state)}" for d in devices)
            raise EnvironmentUnavailable(
                "no Android device is ready: " + (hints or "none attached. Plug a phone in with USB debugging on, "
                                                 "start an emulator, or `adb connect HOST:PORT`"))
        raise EnvironmentUnavailable(
            f"{len(ready)} devices are attached ({', '.join(d.serial for d in ready)}); choose one with "
            "--serial (AndroidSettings.serial)")

    # -- running commands ---------------------------------------------------------------------------

    def shell(self, cmd: str, timeout_s: float | None = None, shown: str | None = None) -> str:
        """stdout and stderr of `cmd`, trailing whitespace stripped. `shown` stands for the command in logs and
        errors: give it for a command that carries typed text, which can be a secret."""
        return self.run(cmd, timeout_s, shown).output

    def run(self, cmd: str, timeout_s: float | None = None, shown: str | None = None) -> ShellResult:
        """`cmd`'s output and exit status. Over the shell protocol (v2) the device sends the status itself, and
        a stream cut short by a vanished device is an error, not an empty success. Devices without it (Android
        6 and older) get `; echo X4EXIT:$?` appended by adbutils and the status read back from that marker."""
        if self._shell_v2 is None:
            features = self._with_reconnect(lambda: self.device.get_features(), "features")
            self._shell_v2 = "shell_v2" in features.split(",")
            if not self._shell_v2:
                logger.info("{} has no shell protocol v2; exit statuses come from an echoed marker", self.serial)
        v2 = self._shell_v2

        def run() -> ShellResult:
            r = self.device.shell2(cmd, timeout=timeout_s or self.timeout_s, rstrip=True, v2=v2)
            return ShellResult(r.output, r.stderr or "", r.returncode)
        return self._with_reconnect(run, cmd, shown)

    def exec_bytes(self, cmd: str) -> bytes:
        """Raw stdout of `cmd` through the `exec:` service: binary-safe, no terminal in between."""
        def run() -> bytes:
            c = self.device.open_transport(timeout=self.timeout_s)
            try:
                c.send_command("exec:" + cmd)
                c.check_okay()
                data = _read_to_end(c.conn)
                if not data:  # screencap always writes something; nothing means the device went away
                    raise EOFError(f"`{cmd}` returned no bytes")
                return data
            finally:
                c.close()
        return self._with_reconnect(run, cmd)

    def push(self, path: str, data: bytes) -> None:
        """Write `data` to `path` on the device (adb's sync service)."""
        self._with_reconnect(lambda: self.device.sync.push(io.BytesIO(data), path), f"push {path}")

    def _with_reconnect(self, fn: Callable[[], T], cmd: str, shown: str | None = None) -> T:
        try:
            return fn()
        except TRANSPORT_ERRORS as e:
            failure = e  # handled below, outside this block, so a failed reconnect does not chain it (it can quote cmd)
        logger.warning("adb call {!r} on {} failed ({}); trying to reconnect once", shown or cmd[:60], self.serial,
                       _why(failure, shown))
        self.reconnect()
        try:
            return fn()
        except TRANSPORT_ERRORS as e2:
            raise EnvironmentUnavailable(
                f"device {self.serial} stopped answering ({_why(e2, shown)}) even after a reconnect"
            ) from (None if shown else e2)

    def reconnect(self) -> None:
        """One attempt to get the device back: `adb connect` for network devices, then wait for 'device'."""
        deadline = time.monotonic() + self.reconnect_timeout_s
        state = "missing"
        try:
            if self.connect_addr:
                reply = self.client.connect(self.connect_addr, timeout=self.reconnect_timeout_s)
                logger.info("adb connect {}: {}", self.connect_addr, reply.strip())
            while time.monotonic() < deadline:
                state = next((d.state for d in self.client.list() if d.serial == self.serial), "missing")
                if state == "device":
                    self.device = self.client.device(self.serial)
                    return
                time.sleep(0.2)
        except TRANSPORT_ERRORS as e:
            state = f"unreachable ({e})"
        raise EnvironmentUnavailable(
            f"device {self.serial} is gone ({state}) and one reconnect attempt failed; check the cable or network, "
            f"then start a new episode. {STATE_HELP.get(state, '')}".strip())

    # -- screen ---------------------------------------------------------------------------------------

    def screen_info(self) -> ScreenInfo:
        out = self.shell("wm size")
        sizes = {k: (int(w), int(h)) for k, w, h in re.findall(r"(Physical|Override) size:\s*(\d+)x(\d+)", out)}
        if "Physical" not in sizes:
            raise EnvironmentUnavailable(f"`wm size` on {self.serial} gave no 'Physical size'; is it fully booted?")
        dens = re.findall(r"(?:Physical|Override) density:\s*(\d+)", self.shell("wm density"))
        return ScreenInfo(sizes["Physical"], sizes.get("Override"), int(dens[-1]) if dens else None,
                          self.rotation())

    def rotation(self) -> int:
        out = self.shell("dumpsys input")
        m = re.search(r"SurfaceOrientation:\s*(\d)", out) or re.search(r"orientation=(\d)", out)
        if m is None:
            m = re.search(r"mCurrentOrientation=(\d)", self.shell("dumpsys display"))
        return int(m.group(1)) % 4 if m else 0

    def screenshot(self, raw: bool = True) -> Image.Image:
        """The screen at native resolution, RGB. Raw framebuffer first (fast), PNG if that cannot be parsed."""
        if raw:
            data = self.exec_bytes("screencap")
            img = parse_raw_screencap(data)
            if img is not None:
                return img
            logger.debug("raw screencap of {} bytes not understood; falling back to PNG", len(data))
        data = self.exec_bytes("screencap -p")
        try:
            return Image.open(io.BytesIO(data)).convert("RGB")
        except OSError as e:
            raise EnvironmentUnavailable(
                f"screencap on {self.serial} returned no image ({data[:80]!r}); is the screen on and unlocked?") from e


def _why(error: Exception, shown: str | None) -> str:
    """An adb error for logs and messages: its kind alone for a command that carries typed text, since
    adbutils' errors can quote the command (AdbError("shell output invalid", cmd, output))."""
    return type(error).__name__ if shown else str(error)


def _read_to_end(conn: socket.socket) -> bytes:
    """Everything until the device closes the stream. adbutils' read_until_close joins 4 KB chunks into one
    bytes object, which is quadratic: a 10 MB raw frame took 8 s."""
    data = bytearray()
    while chunk := conn.recv(1 << 20):
        data += chunk
    return bytes(data)


# Pixel formats of `screencap`'s raw header we can read: 1 RGBA_8888, 2 RGBX_8888, 5 BGRA_8888.
_RAW_MODES = {1: ("RGBA", "RGBA"), 2: ("RGB", "RGBX"), 5: ("RGBA", "BGRA")}


def parse_raw_screencap(data: bytes) -> Image.Image | None:
    """Parse `screencap` raw output: width, height, format, then (Android 9+) a colour space word, then
    pixels. The header is 12 or 16 bytes; we tell which from the length instead of trusting the version."""
    if len(data) < 16:
        return None
    w, h, fmt = struct.unpack_from("<3I", data)
    modes = _RAW_MODES.get(fmt)
    if modes is None or not (0 < w <= 16384 and 0 < h <= 16384):
        return None
    n = w * h * 4
    for header in (16, 12):
        if len(data) == header + n:
            return Image.frombuffer(modes[0], (w, h), data[header:], "raw", modes[1], 0, 1).convert("RGB")
    return None


def _is_network_serial(serial: str) -> bool:
    return bool(re.fullmatch(r"[\w.\-]+:\d+", serial)) and not serial.startswith("emulator-")
