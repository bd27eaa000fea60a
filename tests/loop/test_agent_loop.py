"""The loop end to end on a real headless Chromium, with recorded model outputs standing in for the model."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from actions.geometry import CoordinateMapper, ImageBudget
from agent.config import AgentConfig
from agent.loop import Agent
from agent.models.base import Generation, GenerationRequest, ModelError
from agent.models.replay import ReplayBackend
from agent.recording import EPISODE_FILE, STEPS_FILE, load_episode
from agent.trajectory import Timings
from environments.base import Dialog, EnvironmentWrapper, Observation, ObservationExtras
from environments.browser.driver import BrowserEnvironment, BrowserSettings
from tests.support.paths import ROOT

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>form</title>
<style>body{margin:0;font:16px sans-serif} #go{position:absolute;left:400px;top:250px;width:120px;height:50px}
#name{position:absolute;left:40px;top:60px;width:300px;height:30px} #blank{position:absolute;left:40px;top:300px}</style>
</head><body><input id="name"><button id="go" onclick="this.dataset.n=(+(this.dataset.n||0))+1">Go</button>
<div id="blank">nothing here</div></body></html>"""
START_URL = "data:text/html," + urllib.parse.quote(PAGE)
# A small budget so the model's image (and its coordinates) differ from the screen's.
BUDGET = ImageBudget(max_pixels=120_000)


@pytest.fixture(scope="module")
def env() -> Iterator[BrowserEnvironment]:
    e = BrowserEnvironment(BrowserSettings(viewport_width=640, viewport_height=400, start_url=START_URL))
    yield e
    e.close()


def model_point(env: BrowserEnvironment, selector: str) -> list[int]:
    """Where the model would point for an element's centre, in the resized image."""
    rect = env.page().eval_on_selector(selector, "e => { const r = e.getBoundingClientRect(); "
                                               "return [r.x + r.width / 2, r.y + r.height / 2]; }")
    obs: Observation = env.observe()
    return list(CoordinateMapper.for_screen(obs.geometry, BUDGET).to_model(tuple(rect)))


def tool_call(args: dict) -> str:
    return "<tool_call>\n" + json.dumps({"name": "computer_use", "arguments": args}) + "\n</tool_call>"


def run(env: BrowserEnvironment, texts: list[str], out: Path, **config) -> tuple:
    agent = Agent(env, ReplayBackend(texts, BUDGET), AgentConfig(**config))
    result = agent.run("fill the form and press Go", out)
    return result, *load_episode(out)


def test_episode_end_to_end_with_recording(env: BrowserEnvironment, tmp_path: Path) -> None:
    env.reset()
    go, name = model_point(env, "#go"), model_point(env, "#name")
    texts = [
        "I will type the name first.\n" + tool_call({"action": "left_click", "coordinate": name}),
        tool_call({"action": "type", "text": "Zoë O'Brien; $HOME"}),
        tool_call({"action": "left_click", "coordinate": go}),
        tool_call({"action": "terminate", "status": "success"}),
    ]
    result, header, steps = run(env, texts, tmp_path / "ep")

    assert result.stop_reason == "terminate" and result.status == "success" and result.success
    # The page's real state shows every action landed.
    assert env.page().eval_on_selector("#name", "e => e.value") == "Zoë O'Brien; $HOME"
    assert env.page().eval_on_selector("#go", "e => e.dataset.n") == "1"

    assert header["result"]["stop_reason"] == "terminate"
    assert header["image_budget"]["max_pixels"] == BUDGET.max_pixels
    assert [s.index for s in steps] == [1, 2, 3, 4]
    assert all(s.executed for s in steps[:3]) and not steps[3].executed
    first = steps[0]
    assert first.action == {"action": "left_click", "coordinate": name}
    assert first.model_image != (first.screen.width, first.screen.height)
    x, y = first.mapped_action["coordinate"]
    assert 40 <= x < 340 and 60 <= y < 90, "the mapped click lies inside the input box, in CSS pixels"
    assert first.attempts[0].raw_text.startswith("I will type the name first.")
    assert first.messages[0]["role"] == "system" and first.messages[1]["content"][-1]["type"] == "image"
    for s in steps:
        assert (tmp_path / "ep" / s.screenshot).is_file()
        assert s.timings.total >= s.timings.act >= 0
    report = (tmp_path / "ep" / "report.html").read_text()
    assert report.count("class='step'") == 4 and "<circle" in report and "Zoë O&#x27;Brien" in report
    # The episode's typical step, split between the model and everything else. The first step, which
    # started the browser, is left out.
    mean = Timings.mean([st.timings for st in steps[1:]])
    assert mean.total == sum(st.timings.total for st in steps[1:]) / 3
    assert 0 < mean.framework <= mean.total and mean.framework >= mean.capture + mean.act
    assert f"per step after the first: {mean.total * 1000:.0f} ms" in report
    assert Timings.episode_summary([steps[0].timings]) == steps[0].timings.summary()


def test_unusable_answer_is_quoted_back_once(env: BrowserEnvironment, tmp_path: Path) -> None:
    texts = [
        "The button is at the bottom.",  # no tool call
        tool_call({"action": "left_click", "coordinate": [10_000, 5]}),  # off the image
        tool_call({"action": "fly"}),
        tool_call({"action": "terminate", "status": "failure"}),
    ]
    result, _, steps = run(env, texts, tmp_path / "ep", retries_on_bad_answer=1)
    assert result.stop_reason == "terminate" and result.status == "failure" and not result.success
    one, two = steps
    # Step 1: no tool call, then (re-prompted once) a point off the image: a failed step, nothing executed.
    assert [a.error is not None for a in one.attempts] == [True, True]
    assert "no tool call" in one.attempts[0].error and "outside the screen" in one.attempts[1].error
    assert one.action is not None and one.mapped_action is None and not one.executed
    # Step 2's prompt tells the model why its last answer failed; its own bad answer is re-prompted and fixed.
    assert "could not be used" in json.dumps(two.messages)
    assert "unknown action" in two.attempts[0].error and two.attempts[1].error is None
    assert two.action == {"action": "terminate", "status": "failure"}


def test_answer_is_offered_only_to_a_question(env: BrowserEnvironment, tmp_path: Path) -> None:
    answer = tool_call({"action": "answer", "text": "Go"})
    result, header, steps = run(env, [answer, answer], tmp_path / "plain", max_steps=1, retries_on_bad_answer=1)
    assert result.stop_reason == "max_steps" and "unknown action \"answer\"" in steps[0].attempts[0].error
    assert '`answer`' not in steps[0].messages[0]["content"][0]["text"]
    result, header, steps = run(env, [answer], tmp_path / "question", answer=True)
    assert result.stop_reason == "answer" and result.answer == "Go" and header["config"]["answer"] is True
    # Inside the tool's JSON line, where a newline is written as backslash and n.
    assert "\\n* `answer`: Answer the user's question and end the task." in steps[0].messages[0]["content"][0]["text"]


def test_the_next_prompt_quotes_the_models_own_call(env: BrowserEnvironment, tmp_path: Path) -> None:
    env.reset()
    texts = [tool_call({"action": "wait"}), tool_call({"action": "terminate", "status": "success"})]
    _, _, steps = run(env, texts, tmp_path / "ep")
    assert steps[0].action == {"action": "wait", "time": 1.0}  # the default, filled in to act
    query = steps[1].messages[-1]["content"][0]["text"]
    # ... but the history shows what the model wrote, as the cookbook's progress does.
    assert query == ('fill the form and press Go\nTask progress (You have done the following operation on the '
                     'current device): Step 1: {"name": "computer_use", "arguments": {"action": "wait"}}; ')


def test_an_answer_cut_at_the_token_limit_is_never_acted_on(env: BrowserEnvironment, tmp_path: Path) -> None:
    env.reset()
    go = model_point(env, "#go")
    click = tool_call({"action": "left_click", "coordinate": go})
    texts = [
        # Its JSON happens to be whole, but the model was stopped before it could close the call.
        click.removesuffix("\n</tool_call>"),
        # The first call was closed before the cut: the cut fell after it.
        click + '\n<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_cl',
        tool_call({"action": "terminate", "status": "success"}),
    ]
    backend = ReplayBackend(texts, BUDGET, finishes=["length", "length", "end_of_turn"])
    result = Agent(env, backend, AgentConfig(retries_on_bad_answer=1)).run("press Go", tmp_path / "ep")
    assert result.stop_reason == "terminate"
    _, (one, _) = load_episode(tmp_path / "ep")
    cut, closed = one.attempts
    assert cut.finish == "length" and cut.error.startswith(
        "the answer was cut off at the limit of new tokens before its tool call was complete")
    assert closed.error is None and any("after its first tool call" in n for n in closed.notes)
    assert one.executed and env.page().eval_on_selector("#go", "e => e.dataset.n") == "1"

    # A replay of the recording meets the same cut: the finish was recorded with the text.
    done = cli("replay", str(tmp_path / "ep"), "--env", "browser", "--start-url", START_URL, "--viewport", "640x400",
               "--out", str(tmp_path / "replays"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (replayed,) = (tmp_path / "replays").iterdir()
    _, steps = load_episode(replayed)
    assert [a.error for a in steps[0].attempts] == [cut.error, None]


def test_stuck_and_step_limit(env: BrowserEnvironment, tmp_path: Path) -> None:
    env.reset()
    blank = model_point(env, "#blank")
    click = tool_call({"action": "left_click", "coordinate": blank})
    result, _, steps = run(env, [click] * 5, tmp_path / "stuck", stuck_after=3)
    assert result.stop_reason == "stuck" and len(steps) == 3 and not steps[2].executed

    wait = tool_call({"action": "wait", "time": 0})
    result, _, steps = run(env, [wait] * 2 + [click] * 2, tmp_path / "limit", max_steps=4, stuck_after=3)
    assert result.stop_reason == "max_steps" and len(steps) == 4 and result.error


def test_dry_run_executes_nothing(env: BrowserEnvironment, tmp_path: Path) -> None:
    env.reset()
    go = model_point(env, "#go")
    texts = [tool_call({"action": "left_click", "coordinate": go}), tool_call({"action": "terminate", "status": "success"})]
    result, _, steps = run(env, texts, tmp_path / "ep", dry_run=True)
    assert result.success and not steps[0].executed and steps[0].mapped_action is not None
    assert env.page().eval_on_selector("#go", "e => e.dataset.n || '0'") == "0"


def test_browser_dying_mid_episode_keeps_the_recording(tmp_path: Path) -> None:
    env = BrowserEnvironment(BrowserSettings(viewport_width=320, viewport_height=240, start_url=START_URL))
    try:
        wait = tool_call({"action": "wait", "time": 0})

        def kill_after_first(record) -> None:
            if record.index == 1:
                env._browser.close()  # the browser goes away as if it crashed

        agent = Agent(env, ReplayBackend([wait] * 5, BUDGET), AgentConfig(max_steps=5), on_step=kill_after_first)
        result = agent.run("wait", tmp_path / "ep")
    finally:
        env.close()
    header, steps = load_episode(tmp_path / "ep")
    assert result.stop_reason == "error" and result.error
    assert header["result"]["stop_reason"] == "error"
    assert len(steps) == 1 and steps[0].executed


def test_ctrl_c_ends_as_interrupted(env: BrowserEnvironment, tmp_path: Path) -> None:
    def interrupt(record) -> None:
        if record.index == 2:
            raise KeyboardInterrupt

    wait = tool_call({"action": "wait", "time": 0})
    agent = Agent(env, ReplayBackend([wait] * 5, BUDGET), AgentConfig(max_steps=5), on_step=interrupt)
    result = agent.run("wait", tmp_path / "ep")
    header, steps = load_episode(tmp_path / "ep")
    assert result.stop_reason == "interrupted" and header["result"]["stop_reason"] == "interrupted"
    assert len(steps) == 2


def test_a_lost_interrupt_still_ends_the_episode_as_interrupted(env: BrowserEnvironment, tmp_path: Path) -> None:
    # A signal's KeyboardInterrupt raised inside a weakref callback is only printed; the flag it set remains.
    asked = []
    wait = tool_call({"action": "wait", "time": 0})
    agent = Agent(env, ReplayBackend([wait] * 5, BUDGET), AgentConfig(max_steps=5),
                  on_step=lambda record: asked.append(record.index), interrupted=lambda: bool(asked))
    result = agent.run("wait", tmp_path / "ep")
    header, steps = load_episode(tmp_path / "ep")
    assert result.stop_reason == "interrupted" and header["result"]["stop_reason"] == "interrupted"
    assert len(steps) == 1


def test_a_failing_model_still_leaves_its_step_recorded(env: BrowserEnvironment, tmp_path: Path) -> None:
    class DownAfterOneAnswer(ReplayBackend):
        def generate(self, request: GenerationRequest) -> Generation:
            if self.answered == 1:
                raise ModelError("the server answered 503 three times; check that it is up")
            return super().generate(request)

    wait = tool_call({"action": "wait", "time": 0})
    result = Agent(env, DownAfterOneAnswer([wait] * 3, BUDGET), AgentConfig(max_steps=3)).run("wait", tmp_path / "ep")
    assert result.stop_reason == "error" and "503" in result.error and result.steps == 2
    header, steps = load_episode(tmp_path / "ep")
    assert [s.index for s in steps] == [1, 2] and steps[1].action is None and "503" in steps[1].error
    assert (tmp_path / "ep" / steps[1].screenshot).is_file() and steps[1].timings.total > 0
    assert "503" in (tmp_path / "ep" / "report.html").read_text()


def test_recording_survives_a_torn_last_line_and_refuses_to_overwrite(env: BrowserEnvironment, tmp_path: Path) -> None:
    wait = tool_call({"action": "wait", "time": 0})
    run(env, [wait, tool_call({"action": "terminate", "status": "success"})], tmp_path / "ep")
    with (tmp_path / "ep" / STEPS_FILE).open("a") as f:
        f.write('{"index": 3, "screensh')  # a crash mid-write
    _, steps = load_episode(tmp_path / "ep")
    assert len(steps) == 2
    before = (tmp_path / "ep" / EPISODE_FILE).read_bytes()
    with pytest.raises(Exception, match="already holds an episode"):
        run(env, [wait], tmp_path / "ep")
    assert (tmp_path / "ep" / EPISODE_FILE).read_bytes() == before


def test_empty_task_is_refused(env: BrowserEnvironment) -> None:
    with pytest.raises(ValueError, match="task is empty"):
        Agent(env, ReplayBackend([], BUDGET)).run("   ")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=180, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})


def test_cli_replay_and_report(env: BrowserEnvironment, tmp_path: Path) -> None:
    env.reset()
    go = model_point(env, "#go")
    texts = [tool_call({"action": "left_click", "coordinate": go}), tool_call({"action": "terminate", "status": "success"})]
    run(env, texts, tmp_path / "ep")
    (tmp_path / "ep" / "report.html").unlink()

    done = cli("report", str(tmp_path / "ep"), cwd=tmp_path)
    assert done.returncode == 0 and (tmp_path / "ep" / "report.html").is_file()

    done = cli("replay", str(tmp_path / "ep"), "--env", "browser", "--start-url", START_URL, "--viewport", "640x400",
               "--out", str(tmp_path / "replays"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (replayed,) = (tmp_path / "replays").iterdir()
    header, steps = load_episode(replayed)
    assert header["result"]["stop_reason"] == "terminate"
    assert steps[0].mapped_action == load_episode(tmp_path / "ep")[1][0].mapped_action


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "  ", "--model", "x"], "task is empty"),
        (["run", "do it"], "no model given"),
        (["run", "do it", "--model", "m", "--env", "fridge", "--base-url", "http://127.0.0.1:9"], "unknown environment"),
        (["report", "."], "not an episode folder"),
    ],
)
def test_cli_errors_are_one_line_with_exit_code_2(args: list[str], message: str, tmp_path: Path) -> None:
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr


# Runs in its own process: the file size limit would also stop pytest's own files.
_FULL_DISK = r"""
import json, resource, signal, sys
from pathlib import Path
from actions.geometry import ImageBudget
from agent.loop import Agent, AgentConfig
from agent.models.replay import ReplayBackend
from environments.browser.driver import BrowserEnvironment, BrowserSettings
out, url = Path(sys.argv[1]), sys.argv[2]
wait = '<tool_call>\n{"name": "computer_use", "arguments": {"action": "wait", "time": 0}}\n</tool_call>'
with BrowserEnvironment(BrowserSettings(viewport_width=640, viewport_height=400, start_url=url, display="headless")) as env:
    env.reset()  # Chromium starts under no limit: only this process's own writes are cut
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, resource.RLIM_INFINITY))
    result = Agent(env, ReplayBackend([wait] * 30, ImageBudget(max_pixels=120_000)),
                   AgentConfig(max_steps=30, stuck_after=30)).run("wait", out)
print(json.dumps(result.model_dump(mode="json")))
"""


def test_a_recording_that_cannot_be_written_ends_the_episode_as_an_error(tmp_path: Path) -> None:
    # A full disk, made real: every file of this process may grow to 40 kB, and steps.jsonl soon outgrows it.
    out = tmp_path / "ep"
    done = subprocess.run([sys.executable, "-c", _FULL_DISK, str(out), START_URL], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["stop_reason"] == "error" and 1 < result["steps"] < 30
    assert "cannot write the recording in" in result["error"] and "File too large" in result["error"]
    assert "Traceback" not in done.stderr, "a write failure is an ending, not a crash"
    header, steps = load_episode(out)  # what was written stays readable
    assert header["task"] == "wait" and steps and all((out / s.screenshot).is_file() for s in steps)


def test_an_episode_without_reset_starts_from_the_screen_as_prepared(env: BrowserEnvironment, tmp_path: Path) -> None:
    env.reset()
    env.page().fill("#name", "prepared")  # a task's setup, done before the episode
    agent = Agent(env, ReplayBackend([tool_call({"action": "terminate", "status": "success"})], BUDGET))
    assert agent.run("check the name", tmp_path / "ep", reset=False).success
    assert env.page().eval_on_selector("#name", "e => e.value") == "prepared"  # a reset would have cleared it
    agent.run("check the name", tmp_path / "again")
    assert env.page().eval_on_selector("#name", "e => e.value") == ""


# Every typed extra set at once, which no one driver does.
EVERY_EXTRA = ObservationExtras(
    url="https://example.org/a", tabs=2, title="Pay", dialog=Dialog(type="confirm", message="Sure?"), monitor=1,
    window_title="Editor", foreground_package="com.example", foreground_activity="com.example.Main",
    black_frame=True, accessibility_tree="<?xml version='1.0' ?><hierarchy/>",
)


class _EveryExtra(EnvironmentWrapper):
    def observe(self) -> Observation:
        return dataclasses.replace(self.inner.observe(), extras=EVERY_EXTRA, warnings=("all black",))

    reset = observe


def test_the_typed_extras_are_recorded_as_the_dict_they_were(env: BrowserEnvironment, tmp_path: Path) -> None:
    done = tool_call({"action": "terminate", "status": "success"})
    run(env, [done], tmp_path / "plain")
    run(_EveryExtra(env), [done], tmp_path / "every")
    # What steps.jsonl held when the extras were a dict: the fields a driver set, in its order, then warnings.
    plain = json.loads((tmp_path / "plain" / STEPS_FILE).read_text().splitlines()[0])["extras"]
    assert list(plain) == ["url", "tabs", "title"] and plain["tabs"] == 1 and plain["title"] == "form"
    every = json.loads((tmp_path / "every" / STEPS_FILE).read_text().splitlines()[0])["extras"]
    assert every == {
        "url": "https://example.org/a", "tabs": 2, "title": "Pay", "dialog": {"type": "confirm", "message": "Sure?"},
        "monitor": 1, "window_title": "Editor", "foreground_package": "com.example",
        "foreground_activity": "com.example.Main", "black_frame": True,
        "accessibility_tree": "<?xml version='1.0' ?><hierarchy/>", "warnings": ["all black"],
    }
    assert list(every) == [*ObservationExtras.model_fields, "warnings"]
    assert ObservationExtras.model_validate({k: v for k, v in every.items() if k != "warnings"}) == EVERY_EXTRA
