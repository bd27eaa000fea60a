"""Control and safety on real parts: risky clicks held back in Chromium and on the simulated phone, secrets
that never reach a file, no-change feedback, the stop file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from actions.geometry import CoordinateMapper, ImageBudget
from actions.mobile import Click, Open
from agent.config import AgentConfig
from agent.loop import Agent
from agent.models.replay import ReplayBackend
from agent.recording import load_episode
from agent.safety import Safety, SafetyPolicy, Secrets
from agent.safety.policy import RiskClassifier
from agent.safety.secrets import SecretError
from environments.android import AndroidEnvironment, AndroidSettings
from environments.browser import BrowserEnvironment, BrowserSettings

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>shop</title><style>
body{margin:0;font:18px sans-serif} button{position:absolute;width:140px;height:50px}
#pay{left:40px;top:40px} #del{left:240px;top:40px} #ok{left:440px;top:40px}
#pw{position:absolute;left:40px;top:160px;width:300px;height:30px}</style></head><body>
<button id="pay" onclick="this.dataset.n=1">Pay now</button><button id="del" onclick="this.dataset.n=1">删除</button>
<button id="ok" onclick="this.dataset.n=1">Show details</button><input id="pw" type="password">
</body></html>"""
START_URL = "data:text/html," + urllib.parse.quote(PAGE)
BUDGET = ImageBudget(max_pixels=200_000)
SECRET = "s3cr3t-Hunter2!"


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserEnvironment]:
    env = BrowserEnvironment(BrowserSettings(viewport_width=640, viewport_height=300, start_url=START_URL))
    yield env
    env.close()


def call(args: dict, tool: str = "computer_use") -> str:
    return "<tool_call>\n" + json.dumps({"name": tool, "arguments": args}, ensure_ascii=False) + "\n</tool_call>"


def centre(env: BrowserEnvironment, selector: str) -> list[int]:
    rect = env.page.eval_on_selector(selector, "e => {const r = e.getBoundingClientRect(); "
                                               "return [r.x + r.width / 2, r.y + r.height / 2];}")
    return list(CoordinateMapper.for_screen(env.observe().geometry, BUDGET).to_model(tuple(rect)))


def clicked(env: BrowserEnvironment, selector: str) -> bool:
    return env.page.eval_on_selector(selector, "e => e.dataset.n === '1'")


def run(env, texts, out, safety=None, **config):
    result = Agent(env, ReplayBackend(texts, BUDGET), AgentConfig(**config), safety=safety).run("shop", out)
    return result, load_episode(out)[1]


def test_risky_clicks_are_refused_without_a_terminal_and_recorded(browser, tmp_path: Path) -> None:
    browser.reset()
    pay, delete, ok = centre(browser, "#pay"), centre(browser, "#del"), centre(browser, "#ok")
    texts = [call({"action": "left_click", "coordinate": p}) for p in (pay, delete, ok)]
    texts.append(call({"action": "terminate", "status": "success"}))
    # pytest gives the test no terminal on stdin, so "ask" must mean "refuse".
    result, steps = run(browser, texts, tmp_path / "ep", Safety(SafetyPolicy(mode="ask")))
    assert not clicked(browser, "#pay") and not clicked(browser, "#del")
    assert clicked(browser, "#ok"), "an action that touches nothing risky goes through"
    for step, word in ((steps[0], "Pay"), (steps[1], "删除")):
        assert not step.executed and step.safety["verdict"] == "ask"
        assert "no terminal" in step.safety["decision"] and word in step.safety["target"]
    assert steps[2].executed and steps[2].safety is None
    # The model is told the action was refused.
    assert "not carried out" in json.dumps(steps[1].messages)


def test_allow_mode_and_deny_lists(browser, tmp_path: Path) -> None:
    browser.reset()
    pay = centre(browser, "#pay")
    texts = [call({"action": "left_click", "coordinate": pay}), call({"action": "terminate", "status": "success"})]
    run(browser, texts, tmp_path / "allow", Safety(SafetyPolicy(mode="allow")))
    assert clicked(browser, "#pay")

    texts = [call({"action": "navigate", "url": "https://shop.example.com/cart"}),
             call({"action": "terminate", "status": "failure"})]
    _, steps = run(browser, texts, tmp_path / "deny", Safety(SafetyPolicy(mode="allow", deny_domains=["example.com"])))
    assert not steps[0].executed and "deny list" in steps[0].error


def test_secret_is_typed_but_never_written(browser, tmp_path: Path) -> None:
    browser.reset()
    pw = centre(browser, "#pw")
    texts = [call({"action": "left_click", "coordinate": pw}), call({"action": "type", "text": "{{PASSWORD}}"}),
             call({"action": "terminate", "status": "success"})]
    secrets = Secrets({"PASSWORD": SECRET})
    result, steps = run(browser, texts, tmp_path / "ep", Safety(secrets=secrets))
    assert browser.page.eval_on_selector("#pw", "e => e.value") == SECRET, "the driver typed the real value"
    assert "{{PASSWORD}}" in json.dumps(steps[0].messages), "the model is told the placeholder"
    for path in (tmp_path / "ep").rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".html"):
            assert SECRET not in path.read_text(encoding="utf-8"), path


def test_secret_never_in_cli_logs_or_recordings(tmp_path: Path) -> None:
    episode = tmp_path / "recorded"
    env = BrowserEnvironment(BrowserSettings(viewport_width=640, viewport_height=300, start_url=START_URL))
    try:
        env.reset()
        pw = centre(env, "#pw")
        run(env, [call({"action": "left_click", "coordinate": pw}), call({"action": "type", "text": "{{PASSWORD}}"}),
                  call({"action": "terminate", "status": "success"})], episode)
    finally:
        env.close()
    done = subprocess.run(
        [sys.executable, "-m", "agent", "--debug", "replay", str(episode), "--start-url", START_URL,
         "--viewport", "640x300", "--out", str(tmp_path / "runs"), "--secret", f"PASSWORD={SECRET}"],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    files = [p for p in (tmp_path / "runs").rglob("*") if p.is_file() and p.suffix != ".png"]
    assert files and all(SECRET.encode() not in p.read_bytes() for p in files)


def test_bad_safety_input_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="no such secret"):
        Secrets({}).check_used("log in with {{PASSWORD}}")
    with pytest.raises(SecretError, match="NAME=VALUE"):
        Secrets.from_cli(["PASSWORD"], environ={})
    with pytest.raises(ValueError, match="matches every text"):
        SafetyPolicy(patterns=[".*"])
    with pytest.raises(ValueError, match="not a domain"):
        SafetyPolicy(deny_domains=["not a domain"])
    policy_file = tmp_path / "policy.json"
    policy_file.write_text("{not json")
    done = subprocess.run([sys.executable, "-m", "agent", "run", "x", "--model", "m", "--policy", str(policy_file)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "cannot read it as JSON" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-m", "agent", "run", "log in with {{PIN}}", "--model", "m"],
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 2 and "{{PIN}}" in done.stderr


def test_classifier_reads_keys_apps_and_addresses() -> None:
    from actions.computer import Key

    c = RiskClassifier(SafetyPolicy(mode="ask", deny_keys=["ctrl+w"], deny_apps=["com.bank"]))
    assert c.assess(Key(keys=["ctrl", "w"]), None, {}).verdict == "deny"
    assert c.assess(Key(keys=["shift", "Delete"]), None, {}).verdict == "ask"
    assert c.assess(Key(keys=["ctrl", "c"]), None, {}).verdict == "allow"
    assert c.assess(Open(text="支付宝"), None, {}).verdict == "ask"  # the app opened is read too
    assert c.assess(Open(text="Settings"), None, {}).verdict == "allow"
    assert c.assess(Click(coordinate=(1, 1)), None, {"foreground_package": "com.bank"}).verdict == "deny"


def test_addresses_without_a_readable_site_are_held_back() -> None:
    from actions.browser import Navigate

    here = {"url": "https://docs.example.org/start"}
    c = RiskClassifier(SafetyPolicy(mode="ask", allow_domains=["docs.example.org"]))
    assert c.assess(Navigate(url="https://docs.example.org/next"), None, here).verdict == "allow"
    # A random model's address: urlsplit reads the "[" as a broken IPv6 literal and raises.
    garbled = c.assess(Navigate(url="̗ mouse:rope},]}}:rope[js"), None, here)
    assert garbled.verdict == "ask" and "names no site" in garbled.reasons[0]
    # The site in front vouches for actions on it, not for an address that leads elsewhere.
    assert c.assess(Navigate(url="file:///etc/passwd"), None, here).verdict == "ask"
    assert c.assess(Click(coordinate=(1, 1)), None, here).verdict == "allow"


def test_no_change_feedback_and_stop_file(browser, tmp_path: Path) -> None:
    browser.reset()
    ok = centre(browser, "#ok")
    blank = [600, 5]
    texts = [call({"action": "left_click", "coordinate": blank}), call({"action": "left_click", "coordinate": ok}),
             call({"action": "wait", "time": 0}), call({"action": "terminate", "status": "success"})]
    _, steps = run(browser, texts, tmp_path / "ep")
    assert steps[1].screen_changed is False
    assert "did not change" in json.dumps(steps[1].messages)
    stop = tmp_path / "STOP"
    stop.touch()
    result, steps = run(browser, [call({"action": "wait", "time": 0})] * 3, tmp_path / "stopped", stop_file=stop)
    assert result.stop_reason == "interrupted" and "stop file" in result.error and steps == []


def test_risky_tap_on_the_phone_is_held_back(adb_server, phone, tmp_path: Path) -> None:
    note = phone.state.add_note("删除 all my files")
    # No Home press on reset: the episode starts in the Notes app, where a tap on a note deletes it.
    env = AndroidEnvironment(AndroidSettings(serial=phone.serial, adb_port=adb_server.port, settle_s=0.05,
                                             press_home_on_reset=False))
    try:
        env.act(Open(text="Notes"))
        xml = env._dump_ui()
        m = re.search(r'text="删除 all my files"[^>]*bounds="\[(\d+),(\d+)\]\[(\d+),(\d+)\]"', xml)
        assert m, xml[:500]
        x1, y1, x2, y2 = map(int, m.groups())
        geometry = env.observe().geometry
        point = list(CoordinateMapper.for_screen(geometry, BUDGET).to_model(((x1 + x2) / 2, (y1 + y2) / 2)))
        texts = [call({"action": "click", "coordinate": point}, "mobile_use"),
                 call({"action": "terminate", "status": "failure"}, "mobile_use")]
        agent = Agent(env, ReplayBackend(texts, BUDGET), AgentConfig(), safety=Safety(SafetyPolicy(mode="ask")))
        result = agent.run("tidy up the notes", tmp_path / "ep")
    finally:
        env.close()
    _, steps = load_episode(tmp_path / "ep")
    assert result.stop_reason == "terminate"
    out = adb_server.run("-s", phone.serial, "shell", "ls", "/sdcard/Notes/").stdout
    assert note.rsplit("/", 1)[-1] in out, "the note is still there: the tap was refused"
    assert steps[0].safety and "删除" in steps[0].safety["target"] and not steps[0].executed
