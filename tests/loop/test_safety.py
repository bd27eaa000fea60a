"""Control and safety on real parts: risky clicks held back in Chromium and on the simulated phone, secrets
that never reach a file, no-change feedback, the stop file."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import unicodedata
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from actions.base import Type
from actions.browser import Navigate
from actions.computer import Key
from actions.geometry import CoordinateMapper, ImageBudget
from actions.mobile import Click, MobileKey, Open
from agent.config import AgentConfig
from agent.loop import Agent
from agent.models.replay import ReplayBackend
from agent.recording import load_episode
from agent.safety import Safety, SafetyPolicy, Secrets
from agent.safety.hosts import address_host
from actions.keys import key_combo
from agent.safety.policy import RISKY_KEYS, AppCatalog, RiskClassifier
from agent.safety.redaction import canonical
from agent.safety.secrets import SecretError
from environments.android.text import adb_keyboard_command, input_text_commands, is_input_text_typable
from environments.android.driver import AndroidEnvironment, AndroidSettings
from environments.android.apps import resolve_app
from environments.base import ActionFailed, ObservationExtras
from environments.phone_sim import PhoneServer
from environments.browser.driver import BrowserEnvironment, BrowserSettings
from actions.browser import with_scheme
from tests.support.paths import DATA

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
# Risky buttons in every disguise found to get past a reader of one element's own text, a Next button and a
# harmless one whose words run together ("Display settings" holds "pay").
DISGUISED_URL = "data:text/html," + urllib.parse.quote(
    (DATA / "disguised_buttons.html").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserEnvironment]:
    env = BrowserEnvironment(BrowserSettings(viewport_width=640, viewport_height=300, start_url=START_URL))
    yield env
    env.close()


@pytest.fixture(scope="module")
def disguised() -> Iterator[BrowserEnvironment]:
    env = BrowserEnvironment(BrowserSettings(viewport_width=700, viewport_height=380, start_url=DISGUISED_URL))
    yield env
    env.close()


def call(args: dict, tool: str = "computer_use") -> str:
    return "<tool_call>\n" + json.dumps({"name": tool, "arguments": args}, ensure_ascii=False) + "\n</tool_call>"


def centre(env: BrowserEnvironment, selector: str) -> list[int]:
    rect = env.page().eval_on_selector(selector, "e => {const r = e.getBoundingClientRect(); "
                                               "return [r.x + r.width / 2, r.y + r.height / 2];}")
    return list(CoordinateMapper.for_screen(env.observe().geometry, BUDGET).to_model(tuple(rect)))


def clicked(env: BrowserEnvironment, selector: str) -> bool:
    return env.page().eval_on_selector(selector, "e => e.dataset.n === '1'")


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
        assert not step.executed and step.safety.verdict == "ask"
        assert "no terminal" in step.safety.decision and word in step.safety.target
    assert steps[2].executed and steps[2].safety is None
    # The model is told the action was refused.
    assert "not carried out" in json.dumps(steps[1].messages)


def click_every_case(env: BrowserEnvironment, out: Path, mode: str) -> tuple[list[list], list[str], list]:
    """Click the middle of every button of the disguised page, in one episode: (cases, fired, steps)."""
    env.reset()
    cases = env.page().eval_on_selector_all("[data-case]", "els => els.map(e => [e.id, e.dataset.reads || null])")
    texts = [call({"action": "left_click", "coordinate": centre(env, f"#{case}")}) for case, _ in cases]
    _, steps = run(env, [*texts, call({"action": "terminate", "status": "success"})], out,
                   Safety(SafetyPolicy(mode=mode)))
    return cases, env.page().evaluate("window.fired"), steps


def test_disguised_buttons_fire_when_clicked(disguised, tmp_path: Path) -> None:
    """The page is what it claims: a click in the middle of each button fires it, through the overlay that
    forwards it and the label laid over it too, so the refusals below are the policy's doing."""
    cases, fired, steps = click_every_case(disguised, tmp_path / "ep", "allow")
    assert len(cases) == 20 and fired == [case for case, _ in cases]
    assert all(step.executed for step in steps[:-1])


def test_disguised_risky_buttons_are_refused_and_next_passes(disguised, tmp_path: Path) -> None:
    # pytest gives the test no terminal on stdin, so "ask" must mean "refuse".
    cases, fired, steps = click_every_case(disguised, tmp_path / "ep", "ask")
    assert fired == ["next", "display"], "only the harmless buttons fired"
    for step, (case, reads) in zip(steps[:-1], cases, strict=True):
        if reads is None:
            assert step.executed and step.safety is None, case
            continue
        assert not step.executed and step.safety.verdict == "ask", case
        assert "no terminal" in step.safety.decision, case
        matched = re.search(r"matches '([^']*)'", step.safety.reasons[0]).group(1)
        assert matched.casefold() == reads, (case, step.safety)


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
    assert browser.page().eval_on_selector("#pw", "e => e.value") == SECRET, "the driver typed the real value"
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
        # The model may also read the value off the screen and write it: the terminal must not show it either.
        run(env, [call({"action": "left_click", "coordinate": pw}), call({"action": "type", "text": "{{PASSWORD}}"}),
                  call({"action": "type", "text": f" seen {SECRET}"}), call({"action": "answer", "text": SECRET})],
            episode, answer=True)  # the replay takes `answer` from the recording
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
    with pytest.raises(ValueError, match="unknown key 'zz'"):
        SafetyPolicy(deny_keys=["ctrl+zz"])
    with pytest.raises(ValueError, match="names no app"):
        SafetyPolicy(deny_apps=["*"])
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
    assert c.assess(Key(keys=["ctrl", "w"]), None, ObservationExtras()).verdict == "deny"
    assert c.assess(Key(keys=["shift", "Delete"]), None, ObservationExtras()).verdict == "ask"
    assert c.assess(Key(keys=["ctrl", "c"]), None, ObservationExtras()).verdict == "allow"
    assert c.assess(Open(text="支付宝"), None, ObservationExtras()).verdict == "ask"  # the app opened is read too
    assert c.assess(Open(text="Settings"), None, ObservationExtras()).verdict == "allow"
    assert c.assess(Click(coordinate=(1, 1)), None, ObservationExtras(foreground_package="com.bank")).verdict == "deny"


def test_addresses_without_a_readable_site_are_held_back() -> None:
    from actions.browser import Navigate

    here = ObservationExtras(url="https://docs.example.org/start")
    c = RiskClassifier(SafetyPolicy(mode="ask", allow_domains=["docs.example.org"]))
    assert c.assess(Navigate(url="https://docs.example.org/next"), None, here).verdict == "allow"
    # A random model's address: urlsplit reads the "[" as a broken IPv6 literal and raises.
    garbled = c.assess(Navigate(url="̗ mouse:rope},]}}:rope[js"), None, here)
    assert garbled.verdict == "ask" and "names no site" in garbled.reasons[0]
    # The site in front vouches for actions on it, not for an address that leads elsewhere.
    assert c.assess(Navigate(url="file:///etc/passwd"), None, here).verdict == "ask"
    assert c.assess(Click(coordinate=(1, 1)), None, here).verdict == "allow"


# Addresses that reach evil.com although they are not spelled "evil.com" (found by fuzzing the lists).
EVIL_SPELLINGS = ["evil.com.", "https://evil.com./x", "https://evil.com%2e/", "https://%65vil.com/",
                  "https://ｅｖｉｌ.com/", "https://evil。com/", "https://evil．com", "  https://evil.com  ",
                  "https:///evil.com", "https://\\\\evil.com", "HTTPS://EVIL.COM:443/", "https://ev\u00adil.com",
                  "https://user:pw@evil.com", "https://evil.com\\@good.org/pay", "\x01https://evil.com\n",
                  "https://ev\til.com", "https://sub.evil.com"]


def test_domain_lists_read_the_host_the_browser_visits() -> None:
    deny = RiskClassifier(SafetyPolicy(mode="allow", deny_domains=["evil.com"]))
    for url in EVIL_SPELLINGS:
        assessment = deny.assess(Navigate(url=url), None, ObservationExtras())
        assert assessment.verdict == "deny", url
        # The deny list refuses it, whatever the mode says about risky actions.
        assert assessment.refused_by == "the deny list"
    assert deny.assess(Navigate(url="https://notevil.com"), None, ObservationExtras()).verdict == "allow"
    # "\\" ends the host in http(s) addresses: this one goes to evil.com, not to the allowed good.org.
    allow = RiskClassifier(SafetyPolicy(mode="ask", allow_domains=["good.org"]))
    assert allow.assess(Navigate(url="https://evil.com\\@good.org/pay"), None, ObservationExtras()).verdict == "ask"
    assert allow.assess(Navigate(url="https://evil.com@good.org/pay"), None, ObservationExtras()).verdict == "allow"
    # Numeric forms of an address are one address.
    local = RiskClassifier(SafetyPolicy(mode="allow", deny_domains=["127.0.0.1", "[::1]"]))
    for url in ("http://2130706433/", "http://0x7f.1/", "http://0177.0.0.1", "http://[0:0::1]:8080/"):
        assert local.assess(Navigate(url=url), None, ObservationExtras()).verdict == "deny", url
    # The lists' own entries are read the same way.
    assert SafetyPolicy(deny_domains=["ＥＶＩＬ。com.", "*.Evil.com", "https://evil.com/x", "faß.de"]).deny_domains == [
        "evil.com", "evil.com", "evil.com", "xn--fa-hia.de"]


def test_host_reading_agrees_with_chromium(browser) -> None:
    """The policy's host is the one Chromium's own URL parser gives for the address the driver opens."""
    addresses = [*EVIL_SPELLINGS, "faß.de", "https://ΣΑΣ.gr", "https://ﬃ.com", "https://a_b.example/",
                 "http://0x7f.1/", "https://[::FFFF:127.0.0.1]/", "localhost:8000/x", "https://ẞ.de"]
    read = browser.page().evaluate("us => us.map(u => new URL(u).hostname.replace(/\\.$/, ''))",
                                 [with_scheme(a) for a in addresses])
    assert [address_host(a) for a in addresses] == read
    for address in ("about:blank", "data:text/html,x", "file:///etc/passwd", "javascript:alert(1)",
                    "https://08.1/", "https://ev%il.com"):
        assert address_host(address) is None, address


def test_key_lists_compare_the_keys_the_driver_presses() -> None:
    c = RiskClassifier(SafetyPolicy(mode="allow", deny_keys=["ctrl+w", "Shift+Ctrl+T", "power"]))
    # Pressed in order and held: ctrl, a, w presses ctrl+w too.
    for keys in (["control", "w"], ["Control_L+w"], ["ctrl", "W"], ["ctrl", "a", "w"], ["ctrl", "shift", "t"]):
        assessment = c.assess(Key(keys=keys), None, ObservationExtras())
        assert assessment.verdict == "deny" and assessment.refused_by == "the deny list", keys
    assert c.assess(Key(keys=["ctrl", "shift", "w"]), None, ObservationExtras()).verdict == "allow", "another combination"
    assert c.assess(MobileKey(text="Power"), None, ObservationExtras()).verdict == "deny", "a phone's keys by the phone's names"
    assert c.assess(MobileKey(text="volume_up"), None, ObservationExtras()).verdict == "allow"
    assert SafetyPolicy(deny_keys=["Control+W", "shift+ctrl+Del", "KEYCODE_POWER"]).deny_keys == [
        "ctrl+w", "ctrl+shift+delete", "KEYCODE_POWER"]
    risky = RiskClassifier(SafetyPolicy(mode="ask"))
    for keys in (["option", "f4"], ["command+q"], ["meta", "q"], ["win", "l"], ["Super_L", "l"], ["shift", "del"],
                 ["ctrl", "alt", "del"], ["shift", "control", "Delete"]):
        assert risky.assess(Key(keys=keys), None, ObservationExtras()).verdict == "ask", keys
    assert risky.assess(Key(keys=["delete"]), None, ObservationExtras()).verdict == "allow"
    assert all(key_combo([k]) == k for k in RISKY_KEYS), "the built-in keys are written canonically"


class FakePhone:
    """The Android driver's app catalog, without a device: the packages installed and the user's names, resolved
    by the driver's own rule."""

    app_names = {"my bank": "com.evil.bank"}

    def packages(self) -> list[str]:
        return ["com.android.settings", "com.evil.bank", "org.simphone.notes"]

    def app_package(self, name: str) -> str | None:
        return resolve_app(name, self.packages(), self.app_names)


def test_app_lists_match_the_app_the_driver_opens() -> None:
    by_package = RiskClassifier(SafetyPolicy(mode="allow", deny_apps=["com.android.settings"]))
    by_name = RiskClassifier(SafetyPolicy(mode="allow", deny_apps=["settings"]))
    phone = FakePhone()
    assert isinstance(phone, AppCatalog)
    for name in ("Settings", "settings ", " Settings", "Settings!", "SETTINGS", "com.android.settings"):
        for c in (by_package, by_name):
            assessment = c.assess(Open(text=name), phone, ObservationExtras())
            assert assessment.verdict == "deny" and assessment.refused_by == "the deny list", name
    # Without a catalogue (a browser, which refuses `open`) only the name itself is compared.
    assert by_name.assess(Open(text="Settings!"), None, ObservationExtras()).verdict == "deny"
    assert by_package.assess(Open(text="Settings"), None, ObservationExtras()).verdict == "allow"
    in_front = ObservationExtras(foreground_package="com.android.settings")
    assert by_name.assess(Click(coordinate=(1, 1)), phone, in_front).verdict == "deny"
    assert by_name.assess(Open(text="Clock"), phone, ObservationExtras()).verdict == "allow"
    # Names without Latin letters stay apart (a careless normalisation makes them all the empty name).
    assert RiskClassifier(SafetyPolicy(mode="allow", deny_apps=["微信"])).assess(
        Open(text="支付宝"), None, ObservationExtras()).verdict == "allow"
    # With the device's packages, names resolve as the driver resolves them, the user's names included.
    bank = RiskClassifier(SafetyPolicy(mode="allow", deny_apps=["com.evil.bank", "notes"]))
    assert bank.assess(Open(text="My Bank"), phone, ObservationExtras()).verdict == "deny"
    assert bank.assess(Open(text="org.simphone.notes"), phone, ObservationExtras()).verdict == "deny"
    assert bank.assess(Open(text="Settings"), phone, ObservationExtras()).verdict == "allow"
    allow = RiskClassifier(SafetyPolicy(mode="ask", allow_apps=["Settings"]))
    assert allow.assess(Click(coordinate=(1, 1)), phone, in_front).reasons == ["the app is on the allow list"]


def test_secrets_are_redacted_however_they_come_back() -> None:
    value = "Hunter2 it's \"x\\y\""
    secrets = Secrets({"PASSWORD": value})
    for leak in (
        urllib.parse.quote(value),  # a navigation error's URL
        urllib.parse.quote_plus(value),  # a form's query in the page's address
        value.lower(),  # a host name
        repr(value),  # a driver's message: typed {text!r}
        json.dumps(value),
        value,
    ):
        redacted = secrets.redact(f"failed at {leak}!")
        assert redacted in {f"failed at {q}{{{{PASSWORD}}}}{q}!" for q in ("", "'", '"')}, leak
    host = Secrets({"PIN": "Hunter2"})
    assert host.redact("net::ERR_NAME_NOT_RESOLVED at https://hunter2.example/") == (
        "net::ERR_NAME_NOT_RESOLVED at https://{{PIN}}.example/")
    # A value inside another is redacted whole, in one pass.
    both = Secrets({"USER": "anna", "PASSWORD": "anna-secret"})
    assert both.redact("anna / ANNA-SECRET") == "{{USER}} / {{PASSWORD}}"
    # Full case mapping changes lengths; a page collapses whitespace.
    odd = Secrets({"PW": "straße12", "SPACED": "  two  words "})
    assert odd.redact("STRASSE12 | two words") == "{{PW}} | {{SPACED}}"
    with pytest.raises(SecretError, match="holds a placeholder"):
        Secrets({"A": "{{B}}abcd", "B": "wxyz"})


def test_secrets_leave_keys_and_placeholders_alone() -> None:
    # Keys are the recording's schema: a value equal to one of them must not rename it, or replay refuses the file.
    task = Secrets({"TASK": "task"})
    assert task.redact_data({"task": ["the task", 1234]}) == {"task": ["the {{TASK}}", 1234]}
    # A value equal to its own name, in any case, never rewrites its placeholder.
    own = Secrets({"PASSWORD": "password"})
    assert own.redact("typed {{PASSWORD}}, not Password") == "typed {{PASSWORD}}, not {{PASSWORD}}"


def test_short_or_undecodable_secrets_are_refused_at_start() -> None:
    with pytest.raises(SecretError, match="shorter than 4 characters"):
        Secrets.from_cli(["A=abc"], environ={})
    assert Secrets({"PIN": "1234"}).redact("PIN 1234") == "PIN {{PIN}}", "a 4-digit PIN still works"
    undecodable = b"hunter\xff2".decode("utf-8", "surrogateescape")  # as os.environ hands over a stray byte
    with pytest.raises(SecretError, match="not valid UTF-8"):
        Secrets.from_cli([], environ={"AGENT_SECRET_PW": undecodable})


def test_secrets_are_revealed_only_into_typed_text() -> None:
    secrets = Secrets({"PASSWORD": SECRET})
    assert secrets.reveal(Type(text="pw {{PASSWORD}}")) == Type(text=f"pw {SECRET}")
    for action in (Navigate(url="https://example.com/login?pw={{PASSWORD}}"), Open(text="{{PASSWORD}}"),
                   Key(keys="ctrl+{{PASSWORD}}")):
        with pytest.raises(ActionFailed, match=r"\{\{PASSWORD\}\} stands for a secret, which is only typed"):
            secrets.reveal(action)
    other = Navigate(url="https://example.com/{{OTHER}}")
    assert secrets.reveal(other) is other, "not a secret's placeholder: left as the model wrote it"


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


# The note's title as the tap reads it: plain, and disguised by a Cyrillic "е" and a zero-width space.
@pytest.mark.parametrize(("title", "word"), [("删除 all my files", "删除"), ("D\u0435\u200blete all my files", "Delete")])
def test_risky_tap_on_the_phone_is_held_back(adb_server, phone, tmp_path: Path, title: str, word: str) -> None:
    note = phone.state.add_note(title)
    # No Home press on reset: the episode starts in the Notes app, where a tap on a note deletes it.
    env = AndroidEnvironment(AndroidSettings(serial=phone.serial, adb_port=adb_server.port, settle_delay=0.05,
                                             press_home_on_reset=False))
    try:
        # The classifier resolves an app name through the driver, as `open` will.
        assert isinstance(env, AppCatalog)
        notes = RiskClassifier(SafetyPolicy(deny_apps=["org.simphone.notes"]))
        assert notes.assess(Open(text="notes!"), env, ObservationExtras()).verdict == "deny"
        env.act(Open(text="Notes"))
        xml = env._dump_ui()
        m = re.search(rf'text="{title}"[^>]*bounds="\[(\d+),(\d+)\]\[(\d+),(\d+)\]"', xml)
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
    assert steps[0].safety and title in steps[0].safety.target and not steps[0].executed
    assert f"matches {word!r}" in steps[0].safety.reasons[0]


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def spellings(value: str) -> list[str]:
    """The value as drivers, pages and recordings write it back (the drivers' own encoders among them)."""
    out = [value, value.upper(), unicodedata.normalize("NFD", value), full_width(value), repr(value),
           json.dumps(value), json.dumps(value, ensure_ascii=False), urllib.parse.quote(value),
           urllib.parse.quote_plus(value), urllib.parse.quote(unicodedata.normalize("NFD", value)),
           value.replace(" ", "\u00a0"), value.replace(" ", " \u00a0\u3000 "), value[:2] + "\u200b" + value[2:],
           value[:-1], value[1:], base64.b64encode(value.encode()).decode().rstrip("="),
           # ADBKeyboard's broadcast carries the whole typed text: the value at each of the three alignments.
           *(adb_keyboard_command(lead + value + "!") for lead in ("", "a", "ab"))]
    if is_input_text_typable(value):
        out += input_text_commands(value)
    return out


@pytest.mark.parametrize("value", ["correct horse 42", "it's \"x\\y\" ok", "Crème brûlée 9", "密码是 hunter2"])
def test_secrets_are_redacted_in_every_form_a_driver_or_page_writes(value: str) -> None:
    secrets = Secrets({"PW": value})
    words = [w for w in canonical(value).split() if len(w) >= 3]
    for leak in spellings(value):
        redacted = secrets.redact(f"at [{leak}] end")
        assert "{{PW}}" in redacted and leak not in redacted, (leak, redacted)
        assert redacted.startswith("at [") and redacted.endswith("] end"), "nothing around it is blanked"
        leftover = canonical(redacted.replace("{{PW}}", ""))
        assert not any(w in leftover for w in words), (leak, redacted)


def test_only_long_parts_of_a_secret_are_redacted() -> None:
    """Any part at least max(6, length - 1) characters long: all but one character of a long value, only the
    whole of a short one, whose parts are ordinary words."""
    assert Secrets({"PW": "hunter22"}).redact("hunter2 hunter unter22") == "{{PW}} hunter {{PW}}"
    assert Secrets({"PW": "summer"}).redact("summe ummer") == "summe ummer"


def test_a_page_that_alters_a_typed_secret_does_not_leak_it(page_server: str, tmp_path: Path) -> None:
    value = "Crème brûlée 42"
    env = BrowserEnvironment(BrowserSettings(viewport_width=640, viewport_height=300,
                                             start_url=f"{page_server}/alters"))
    try:
        env.reset()
        texts = [call({"action": "left_click", "coordinate": centre(env, "#f")}),
                 call({"action": "type", "text": "{{PW}}"}), call({"action": "wait", "time": 0}),
                 call({"action": "terminate", "status": "success"})]
        _, steps = run(env, texts, tmp_path / "ep", Safety(secrets=Secrets({"PW": value})))
        assert env.page().eval_on_selector("#f", "e => e.value") == value
        shown = env.page().title()
    finally:
        env.close()
    assert unicodedata.normalize("NFD", value) in shown and value[:-1] in shown, "the page showed it altered"
    assert "{{PW}}" in steps[2].extras["title"] and "{{PW}}" in steps[2].extras["url"]
    files = [p for p in (tmp_path / "ep").rglob("*") if p.suffix in (".json", ".jsonl", ".html")]
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not [leak for leak in spellings(value) if leak in text], path


class PlugPulledWhileTyping(PhoneServer):
    """A phone whose cable comes out as a command carrying typed text arrives (`input text`, or ADBKeyboard's
    broadcast): the driver's adb call fails mid-typing, and so does its reconnect."""

    def _service(self, stream, name: str) -> None:
        if "input text" in name or "ADB_INPUT_B64" in name:
            self.stop()
            return
        super()._service(stream, name)


@pytest.mark.parametrize("value", ["it's my pass word", "pässwörd 密码"])
def test_a_secret_typed_as_adb_fails_is_in_no_log_line_or_file(adb_server, tmp_path: Path, value: str) -> None:
    """`input text` (with %s and shell quoting) and ADBKeyboard's base64 broadcast: when adb fails under them,
    the driver's log lines and errors name the text by its length only."""
    phone = PlugPulledWhileTyping().start()
    adb_server.connect(phone.serial)
    lines: list[str] = []
    # The simulated phone's own log is the device's side, not the driver's.
    sink = logger.add(lambda m: lines.append(m.record["message"]), level="DEBUG",
                      filter=lambda r: not r["name"].startswith("environments.phone_sim"))
    try:
        env = AndroidEnvironment(AndroidSettings(serial=phone.serial, adb_port=adb_server.port, settle_delay=0,
                                                 ime_switch_wait_s=0, reconnect_timeout_s=1.0))
        texts = [call({"action": "type", "text": "{{PW}}"}, "mobile_use")]
        agent = Agent(env, ReplayBackend(texts, BUDGET), AgentConfig(), safety=Safety(secrets=Secrets({"PW": value})))
        result = agent.run("log in", tmp_path / "ep")
    finally:
        logger.remove(sink)
        adb_server.run("disconnect", phone.serial)
        phone.stop()
    assert result.stop_reason == "error" and f"input text ({len(value)} characters)" in "\n".join(lines), lines
    written = [*lines, result.error or ""]
    written += [p.read_text(encoding="utf-8") for p in (tmp_path / "ep").rglob("*")
                if p.suffix in (".json", ".jsonl", ".html")]
    for text in written:
        assert not [leak for leak in spellings(value) if leak in text], text
