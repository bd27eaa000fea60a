"""The phone suite on the simulated phone over the real adb chain (adbutils -> Debian's adb server ->
the simulator): the oracle solves every template it runs, noop scores nothing, scores read real state.

CI runs every template with one seed; EVALS_FULL=1 runs two seeds each.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from evals.phone.device import Adb, SimulatedPhoneEnvironment
from evals.phone.tasks import PHONE_SUITE
from evals.runner import EvalSettings, run_eval
from tests.support.adb import AdbServer, start_phone
from tests.support.evals import run_one
FULL = os.environ.get("EVALS_FULL") == "1"
# A smaller screen than a real phone's keeps screenshots cheap; layouts scale with the width.
SMALL = (540, 1200)


@pytest.fixture(scope="module")
def phone_env(adb_server: AdbServer) -> Any:
    env = SimulatedPhoneEnvironment(phone_size=SMALL, adb_port=adb_server.port)
    try:
        yield env
    finally:
        env.close()


def test_phone_oracle_through_the_runner(adb_server: AdbServer, tmp_path: Path) -> None:
    n = 2 if FULL else 1
    summary = run_eval(EvalSettings(suite="phone", out=tmp_path / "eval", agent="oracle", workers=2, n_combinations=n,
                                    environment={"adb_port": adb_server.port, "phone_size": SMALL}, progress=False))
    assert summary.overall.instances == n * len(PHONE_SUITE.tasks) >= 20
    assert summary.overall.error == 0, summary.by_task
    assert summary.overall.success >= 0.95 * summary.overall.instances, summary.by_task


def test_noop_scores_zero_on_the_phone(phone_env: Any, tmp_path: Path) -> None:
    for name in ("toggle-bluetooth", "create-note", "add-contact", "brightness-max"):
        r = run_one(PHONE_SUITE.tasks[name], 4, phone_env, "noop", tmp_path)
        assert r.outcome == "failure" and r.score == 0.0, r


def test_scores_follow_the_device_state_not_the_agent(phone_env: Any) -> None:
    adb = Adb(phone_env)
    task = PHONE_SUITE.tasks["toggle-wifi"].from_seed(0)
    task.setup(phone_env)
    assert task.score(phone_env) == 0.0
    target = "1" if task.params.state == "on" else "0"
    adb.put_setting("global", "wifi_on", target)  # the state changed by other means still counts
    assert task.score(phone_env) == 1.0

    note = PHONE_SUITE.tasks["create-note"].from_seed(1)
    note.setup(phone_env)
    assert note.score(phone_env) == 0.0
    adb.push_text("/sdcard/Notes/note-9.txt", note.params.text)
    assert note.score(phone_env) == 1.0


def test_a_task_half_done_gets_a_share_of_half_credit(phone_env: Any) -> None:
    adb = Adb(phone_env)
    task = PHONE_SUITE.tasks["two-toggles"].from_seed(3)
    task.setup(phone_env)
    assert task.score(phone_env) == 0.0
    p: Any = task.params
    keys = {"Wi-Fi": "wifi_on", "Bluetooth": "bluetooth_on", "airplane mode": "airplane_mode_on"}
    adb.put_setting("global", keys[p.first], "1" if p.first_state == "on" else "0")
    assert task.score(phone_env) == 0.25  # one of two parts: below any success, above nothing done
    adb.put_setting("global", keys[p.second], "1" if p.second_state == "on" else "0")
    assert task.score(phone_env) == 1.0


def test_android_suite_sets_up_and_scores_with_standard_commands(adb_server: AdbServer,
                                                                   tmp_path: Path) -> None:
    """The `android` suite drives any device through the plain Android driver; here the device is the
    simulator attached like a network phone. noop must score 0 everywhere and no setup may fail."""
    phone = start_phone(adb_server, width=SMALL[0], height=SMALL[1])
    try:
        summary = run_eval(EvalSettings(suite="android", out=tmp_path / "eval", agent="noop", progress=False,
                                        environment={"serial": phone.serial, "adb_port": adb_server.port}))
    finally:
        adb_server.run("disconnect", phone.serial)
        phone.stop()
    assert summary.overall.error == 0, summary.by_task
    assert summary.overall.instances >= 10 and summary.overall.success == 0
