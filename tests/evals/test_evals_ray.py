"""`eval --executor ray` on a real local Ray cluster of two nodes (`ray start --head`, `ray start --address`, one
CPU each): the same successes as the threaded runner for the same seeds, a worker killed mid-instance recorded as
an error and retried by a rerun with the rest intact, and Ray kept optional."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.cli import main
from evals import registry
from evals.executors.ray_cluster import ANDROID_DEVICE, instance_resources
from evals.plan import EvalSettings, RaySettings
from evals.results import RESULT_FILE, InstanceResult
from evals.runner import run_eval
from tests.support.adb import AdbServer
from tests.support.evals import FAST_BROWSER
from tests.support.stall import StallingClickTask
from tests.support.paths import ROOT

RAY = [sys.executable, "-m", "ray.scripts.scripts"]
SMALL_PHONE = (540, 1200)
BROWSER = {**FAST_BROWSER, "display": "headless"}  # no Xvfb per instance: the machine has two cores


@dataclass
class Cluster:
    address: str
    stall_dir: Path
    nodes: list[subprocess.Popen[bytes]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_home() -> Iterator[Path]:
    """A home of its own for this module's Ray processes and drivers: a ~/.ray/auth_token left by an earlier local
    Ray (ray.init() writes one) would make the head ask for a token that joining nodes do not send."""
    home = Path(tempfile.mkdtemp(prefix="ray-home-", dir="/tmp"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("RAY_AUTH_MODE", "disabled")
        yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(ray_home: Path) -> Iterator[Cluster]:
    # A short temp dir: Ray's unix sockets live under it, and their paths have a length limit.
    temp = Path(tempfile.mkdtemp(prefix="ray-t-", dir="/tmp"))
    stall = temp / "stall"
    stall.mkdir()
    port = _free_port()
    address = f"127.0.0.1:{port}"
    # The workers inherit the nodes' environment: this checkout's code, and where the stalling task writes.
    env = {**os.environ, "PYTHONPATH": str(ROOT), StallingClickTask.STALL_DIR: str(stall), "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--block", "--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    nodes: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> None:
        """Start a node and wait until it has joined; `ray start` gives a raylet 30 s to register with the head,
        which a loaded machine can miss: then it is tried again."""
        for attempt in range(3):
            log = temp / f"node{len(nodes)}-{attempt}.log"
            # Its own session: the node's processes (raylet, workers) share its group, so teardown ends those only.
            node = subprocess.Popen([*RAY, "start", *args, *common], env=env, cwd=ROOT, stdout=log.open("wb"),
                                    stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + 180
            while node.poll() is None and "Ray runtime started" not in log.read_text(errors="replace"):
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.5)
            if node.poll() is None:
                nodes.append(node)
                return
            _end_group(node)
        raise AssertionError(f"a Ray node did not start three times; its last words: {log.read_text()[-3000:]}")

    try:
        start("--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}")
        start(f"--address={address}")
        yield Cluster(address, stall, nodes)
    finally:
        for node in reversed(nodes):
            _end_group(node)
        shutil.rmtree(temp, ignore_errors=True)


def _end_group(node: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(node.pid, signal.SIGTERM)
        node.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(node.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    node.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # every process of the node's group is gone
        try:
            os.killpg(node.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    raise AssertionError(f"processes of the Ray node group {node.pid} outlived the test")


def _results(out: Path) -> dict[str, InstanceResult]:
    return {p.parent.name: InstanceResult.model_validate_json(p.read_text())
            for p in (out / "instances").glob(f"*/{RESULT_FILE}")}


def _outcomes(out: Path) -> dict[str, tuple[int, str]]:
    return {k: (r.seed, r.outcome) for k, r in _results(out).items()}


def test_miniwob_through_the_cli_stopped_and_resumed_equals_threads(cluster: Cluster, tmp_path: Path) -> None:
    tasks = ("click-button", "focus-text", "enter-text", "click-test")
    threads = run_eval(EvalSettings(suite="miniwob", out=tmp_path / "threads", tasks=tasks, agent="oracle",
                                    environment=BROWSER, progress=False))
    assert threads.overall.success == 4
    out = tmp_path / "ray"
    command = [sys.executable, "-m", "agent", "eval", "--suite", "miniwob", "--tasks", ",".join(tasks), "--agent",
               "oracle", "--executor", "ray", "--ray-address", cluster.address, "--browser-display", "headless",
               "--settle-delay", "0.02", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not _results(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: the instances running end, those not started are cancelled
    stderr = proc.communicate(timeout=300)[1].decode(errors="replace")
    first = _results(out)
    assert proc.returncode == 1 and first and "Traceback" not in stderr, stderr[-4000:]
    assert all(r.outcome == "success" for r in first.values()), first  # none was cut short
    started = {p.parent.parent.name for p in out.glob("instances/*/episode/episode.json")}
    assert started == set(first) and (out / "summary.json").exists(), stderr[-4000:]

    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0 and f"{len(first)} already finished" in done.stderr, done.stderr[-4000:]
    assert _outcomes(out) == _outcomes(tmp_path / "threads")  # the same seeds, the same successes
    after = _results(out)
    for k, r in after.items():
        assert (out / r.episode_dir / "episode.json").exists() and r.attempt == 1
        if k in first:
            assert r.finished_at == first[k].finished_at  # finished instances were not run again
    assert "instances/click-button__0/episode/report.html" in (out / "index.html").read_text()


def test_phone_tasks_on_the_cluster_equal_threads(cluster: Cluster, adb_server: AdbServer, tmp_path: Path) -> None:
    environment = {"adb_port": adb_server.port, "phone_size": SMALL_PHONE}
    common = dict(suite="phone", tasks=("toggle-wifi", "create-note"), n_combinations=1, agent="oracle",
                  environment=environment, progress=False)
    run_eval(EvalSettings(out=tmp_path / "threads", **common))
    summary = run_eval(EvalSettings(out=tmp_path / "ray", executor="ray", ray=RaySettings(address=cluster.address),
                                    **common))
    assert summary.overall.success == 2 and summary.complete
    assert _outcomes(tmp_path / "ray") == _outcomes(tmp_path / "threads")


def test_a_killed_worker_is_an_error_kept_and_retried_with_the_rest_intact(
        cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.SUITES, "test-stall", "tests.support.stall:STALL_SUITE")
    out = tmp_path / "eval"
    settings = EvalSettings(suite="test-stall", out=out, agent="oracle", environment=BROWSER, progress=False,
                            executor="ray", ray=RaySettings(address=cluster.address))
    first: list[object] = []
    runner = threading.Thread(target=lambda: first.append(run_eval(settings)), daemon=True)
    runner.start()
    pid_file = cluster.stall_dir / "worker.pid"
    deadline = time.monotonic() + 240
    while not pid_file.exists():
        assert time.monotonic() < deadline and runner.is_alive(), "the stalling instance never started"
        time.sleep(0.2)
    time.sleep(0.5)  # the pid is written before the file is closed
    os.kill(int(pid_file.read_text()), signal.SIGKILL)  # the Ray worker running it, mid-instance
    runner.join(timeout=300)
    assert not runner.is_alive() and first
    results = _results(out)
    lost = results["stalling-click__0"]
    assert lost.outcome == "error" and lost.attempt == 1 and "its worker died" in (lost.error or ""), lost
    assert results["click-button__0"].outcome == "success"
    log = (out / "instances" / "stalling-click__0" / "instance.log").read_text()
    assert "attempt 1 of stalling-click__0" in log and "went before the instance ended" in log, log
    kept = results["click-button__0"].finished_at

    summary = run_eval(settings)  # the rerun retries the error only
    assert summary.overall.success == 2 and summary.complete
    after = _results(out)
    assert after["stalling-click__0"].attempt == 2 and after["stalling-click__0"].outcome == "success"
    previous = InstanceResult.model_validate_json(
        (out / "instances" / "stalling-click__0" / "attempt-1" / RESULT_FILE).read_text())
    assert previous.outcome == "error" and "its worker died" in (previous.error or "")
    assert after["click-button__0"].finished_at == kept and after["click-button__0"].attempt == 1


def test_resources_are_declared_per_task() -> None:
    from agent.models.settings import ModelSettings
    from evals.registry import get_suite

    phone = get_suite("phone").tasks["toggle-wifi"]
    android = get_suite("android").tasks["toggle-wifi"]
    browser = get_suite("miniwob").tasks["click-button"]
    oracle = EvalSettings(suite="phone", out=Path("x"), agent="oracle", ray=RaySettings(cpus_per_instance=2))
    assert instance_resources(oracle, None, phone) == {"CPU": 2}  # the simulated phone needs no device
    assert instance_resources(oracle, None, android) == {"CPU": 2, ANDROID_DEVICE: 1}
    qwen = EvalSettings(suite="miniwob", out=Path("x"), agent="qwen")
    assert instance_resources(qwen, ModelSettings(model="m"), browser) == {"CPU": 1, "GPU": 1}
    assert instance_resources(qwen, ModelSettings(model="m", base_url="http://vllm:8000/v1"), browser) == {"CPU": 1}
    assert instance_resources(qwen, ModelSettings(model="m", device="cpu"), browser) == {"CPU": 1}


def test_bad_ray_flags_name_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["eval", "--suite", "miniwob", "--tasks", "click-button", "--agent", "oracle", "--executor", "ray",
               "--ray-cpus-per-instance", "0", "--out", str(tmp_path / "eval")])
    err = capsys.readouterr().err
    assert rc == 2 and "--ray-cpus-per-instance (cpus_per_instance): Input should be greater than 0" in err, err


def test_ray_stays_optional(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code = ("import sys, agent.cli, evals.cli, evals.runner, evals.executors.threads; "
            "assert 'ray' not in sys.modules, 'importing the eval runner imported ray'")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    rc = main(["eval", "--suite", "miniwob", "--tasks", "click-button", "--agent", "oracle", "--executor", "ray",
               "--out", str(tmp_path / "eval")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "pip install 'qwen-gui-agent[ray]'" in err[0], err
