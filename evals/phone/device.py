"""What phone tasks read and change over adb: settings, the contacts provider, files, the foreground app,
and the UI hierarchy (`uiautomator dump`, for the oracle). Only standard Android shell commands."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loguru import logger

from environments.android.shell import foreground_app, refused
from environments.base import Environment, EnvironmentWrapper
from environments.capabilities import DeviceShell, MissingCapability, capability
from evals.task import TaskSetupError

if TYPE_CHECKING:
    from environments.android.driver import AndroidEnvironment


class Adb:
    """What phone tasks read and change, over the environment's DeviceShell capability."""

    def __init__(self, env: Environment) -> None:
        try:
            self.dev = capability(env, DeviceShell, "phone tasks")
        except MissingCapability as e:
            raise TaskSetupError(str(e)) from None

    def shell(self, cmd: str) -> str:
        return self.dev.shell(cmd)

    # -- settings
    def setting(self, namespace: str, key: str) -> str:
        return self.shell(f"settings get {namespace} {key}").strip()

    def put_setting(self, namespace: str, key: str, value: str) -> None:
        self.shell(f"settings put {namespace} {key} {value}")
        if self.setting(namespace, key) != value:
            raise TaskSetupError(f"`settings put {namespace} {key} {value}` did not take")

    # -- content providers
    def query(self, uri: str) -> list[dict[str, str]]:
        """Rows of `content query --uri URI` as dicts ("No result found." is no rows)."""
        result = self.dev.run(f"content query --uri {uri}")
        if refused(result):  # not a search of the rows, which may hold "Error" themselves
            raise RuntimeError(f"content query --uri {uri} failed: {result.output[:200]}")
        rows = []
        for line in result.output.splitlines():
            m = re.match(r"Row: \d+ (.*)", line)
            if m:
                # Values may hold ", " themselves; split only before "key=".
                parts = re.split(r", (?=[\w]+=)", m.group(1))
                rows.append(dict(p.split("=", 1) for p in parts if "=" in p))
        return rows

    def contacts(self) -> list[tuple[str, str]]:
        """(display name, number) of every phone entry in the contacts provider."""
        rows = self.query("content://contacts/phones")
        return [(r.get("display_name") or r.get("name") or "", r.get("number") or r.get("data1") or "") for r in rows]

    # -- files
    def list_dir(self, path: str) -> list[str]:
        result = self.dev.run(f"ls {path}")
        if result.status != 0:  # no such directory
            return []
        return [n.strip() for n in result.output.splitlines() if n.strip()]

    def read_file(self, path: str) -> str:
        return self.shell(f"cat {path}")

    def push_text(self, path: str, text: str) -> None:
        self.dev.push_file(path, text.encode("utf-8"))

    def remove(self, path: str) -> None:
        self.shell(f"rm -f {path}")

    # -- screen
    def foreground_package(self) -> str:
        app = foreground_app(self.shell("dumpsys window"))
        return app[0] if app else ""

    def ui_nodes(self) -> list[UiNode]:
        out = self.shell("uiautomator dump /sdcard/window_dump.xml && cat /sdcard/window_dump.xml")
        start = out.find("<?xml")
        if start < 0:
            return []
        try:
            root = ET.fromstring(out[start:].split("UI hierchary dumped", 1)[0])
        except ET.ParseError as e:
            logger.debug("unreadable UI dump: {}", e)
            return []
        return [UiNode.from_xml(n) for n in root.iter("node")]


@dataclass(frozen=True)
class UiNode:
    text: str
    rid: str
    desc: str
    checked: bool
    bounds: tuple[int, int, int, int]

    @classmethod
    def from_xml(cls, n: ET.Element) -> UiNode:
        nums = [int(v) for v in re.findall(r"-?\d+", n.get("bounds", "[0,0][0,0]"))]
        return cls(n.get("text", ""), n.get("resource-id", ""), n.get("content-desc", ""),
                   n.get("checked") == "true", (nums[0], nums[1], nums[2], nums[3]))

    @property
    def centre(self) -> tuple[int, int]:
        l, t, r, b = self.bounds
        return (l + r) // 2, (t + b) // 2


def digits(number: str) -> str:
    """A phone number compared by its digits: '+1 555-0101' and '15550101' match."""
    return re.sub(r"\D", "", number)


class SimulatedPhoneEnvironment(EnvironmentWrapper):
    """An AndroidEnvironment on a simulated phone it starts itself (`adb connect` to it), one per worker.

    Closing it also stops the phone. `phone_size` is the screen in pixels (a smaller one makes every
    screenshot cheaper, for tests).
    """

    inner: AndroidEnvironment

    def __init__(self, phone_size: tuple[int, int] = (1080, 2400), **android_options: Any) -> None:
        from environments.android.driver import AndroidEnvironment, AndroidSettings
        from environments.phone_sim import PhoneServer

        self.phone = PhoneServer(width=phone_size[0], height=phone_size[1]).start()
        try:
            settings = AndroidSettings(**{"settle_delay": 0.05, **android_options, "serial": self.phone.serial,
                                          "connect": self.phone.serial})
            super().__init__(AndroidEnvironment(settings))
        except BaseException:
            self.phone.stop()
            raise

    def close(self) -> None:
        import adbutils

        try:
            self.inner.close()
            s = self.inner.settings
            try:
                adbutils.AdbClient(host=s.adb_host, port=s.adb_port).disconnect(self.phone.serial)
            except Exception as e:  # noqa: BLE001 - the adb server forgets it when the phone stops anyway
                logger.debug("adb disconnect {} failed: {}", self.phone.serial, e)
        finally:
            self.phone.stop()
