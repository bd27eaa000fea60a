"""Fixtures for tests over the real ADB chain: adbutils -> Debian's adb server -> the simulated phone.

Each test module gets its own adb server on a free port (never the user's server on 5037) and its own
simulated phone, attached with `adb connect`. Teardown stops only what the fixture started.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from environments.phone_sim import PhoneServer, PhoneState

ADB = shutil.which("adb")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class AdbServer:
    port: int

    @property
    def env(self) -> dict[str, str]:
        # ADB_EMU=0: no scan of ports 5555-5585, so an emulator (or phone sim) the user has running there
        # does not join the tests' devices.
        return {**os.environ, "ANDROID_ADB_SERVER_PORT": str(self.port), "ADB_EMU": "0"}

    def run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        assert ADB is not None
        return subprocess.run([ADB, "-P", str(self.port), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def connect(self, serial: str) -> None:
        out = self.run("connect", serial)
        assert "connected to" in out.stdout, f"adb connect {serial} failed: {out.stdout} {out.stderr}"
        # `adb connect` returns once the TCP link is up; wait until the handshake made it a ready device.
        self.run("-s", serial, "wait-for-device", timeout=15)


def start_adb_server() -> AdbServer:
    if ADB is None:
        pytest.skip("Debian's `adb` is not installed (apt-get install adb); these tests need a real adb server")
    server = AdbServer(free_port())
    out = server.run("start-server")
    assert out.returncode == 0, f"adb start-server on port {server.port} failed: {out.stderr}"
    return server


def stop_adb_server(server: AdbServer) -> None:
    # `-P port` makes this reach only the server this fixture started, never the user's one on 5037.
    assert server.port != 5037
    server.run("kill-server")


@pytest.fixture(scope="module")
def adb_server() -> Iterator[AdbServer]:
    server = start_adb_server()
    try:
        yield server
    finally:
        stop_adb_server(server)


def start_phone(adb: AdbServer, **state_kwargs: object) -> PhoneServer:
    phone = PhoneServer(state=PhoneState(**state_kwargs)).start()
    adb.connect(phone.serial)
    return phone


@pytest.fixture(scope="module")
def phone(adb_server: AdbServer) -> Iterator[PhoneServer]:
    server = start_phone(adb_server)
    try:
        yield server
    finally:
        adb_server.run("disconnect", server.serial)
        server.stop()
