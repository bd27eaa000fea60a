"""Chromium's dialogs on the driver's virtual display, used as a person uses them: a confirm answered by
keys, uploads only under --upload-dir, and the screenshot taken once the page has drawn the action."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from actions.base import Type
from actions.computer import Key, LeftClick
from environments.base import ActionFailed
from environments.browser import BrowserEnvironment, BrowserSettings, virtual_display_problem

SETTINGS = BrowserSettings(viewport_width=800, viewport_height=600, display="virtual", settle_timeout=3.0)
pytestmark = pytest.mark.skipif(virtual_display_problem(SETTINGS) is not None,
                                reason=str(virtual_display_problem(SETTINGS)))

PAGE = """<!doctype html><meta charset="utf-8">
<style>body { margin: 0; font: 16px sans-serif; } #pick { position: absolute; left: 20px; top: 20px; font-size: 18px; }
#ask { position: absolute; left: 300px; top: 20px; } #name { position: absolute; left: 400px; top: 20px; }
#alert { position: absolute; left: 500px; top: 20px; } #file { position: absolute; left: 20px; top: 300px; }
#load { position: absolute; left: 20px; top: 400px; } #go { position: absolute; left: 200px; top: 400px; }
#none { position: absolute; left: 400px; top: 400px; } #dom { position: absolute; left: 600px; top: 400px; }
#out { position: absolute; left: 20px; top: 500px; width: 300px; height: 60px; }</style>
<select id="pick"><option>alpha</option><option>bravo</option><option>charlie</option><option>delta</option></select>
<button id="ask" onclick="out.textContent = confirm('Delete the account?') ? 'yes' : 'no'">ask</button>
<button id="name" onclick="out.textContent = 'hi ' + prompt('Your name?', '')">name</button>
<button id="alert" onclick="alert('Saved.'); out.textContent = 'after alert'">alert</button>
<input id="file" type="file" onchange="out.textContent = this.files[0].name">
<button id="load" onclick="setTimeout(() => fetch('/slow').then(r => r.text()).then(t => { out.style.background = 'red'; }), 0)">load</button>
<button id="go" onclick="location.href = '/red'">go</button>
<button id="none">none</button>
<button id="dom" onclick="out.style.background = 'red'">dom</button>
<div id="out">-</div>"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserEnvironment]:
    uploads = tmp_path_factory.mktemp("uploads")
    (uploads / "report.txt").write_text("hello")
    environment = BrowserEnvironment(SETTINGS.model_copy(update={"upload_dir": uploads}))
    environment.reset()
    yield environment
    environment.close()


@pytest.fixture
def page(env: BrowserEnvironment) -> BrowserEnvironment:
    def slow(route: object) -> None:
        import time

        time.sleep(0.15)  # a server that takes a while; the fetch then renders
        route.fulfill(body="ok")  # type: ignore[attr-defined]

    env.page.unroute("**/*")
    env.page.route("**/slow", slow)
    env.page.route("**/red", lambda route: route.fulfill(body="<body style='margin:0;background:red'>", content_type="text/html"))
    env.page.route("**/start", lambda route: route.fulfill(body=PAGE, content_type="text/html"))
    env.page.goto("http://test.invalid/start")
    env.observe()
    return env


def centre(env: BrowserEnvironment, selector: str) -> tuple[int, int]:
    box = env.page.locator(selector).bounding_box()
    return round(box["x"] + box["width"] / 2), round(box["y"] + box["height"] / 2)


def out(env: BrowserEnvironment) -> str:
    return str(env.page.evaluate("document.getElementById('out').textContent"))


def test_a_confirm_is_seen_and_accepted_by_enter_or_dismissed_by_escape(page: BrowserEnvironment) -> None:
    env = page
    env.act(LeftClick(coordinate=centre(env, "#ask")))
    seen = env.observe()
    assert seen.extras["dialog"] == {"type": "confirm", "message": "Delete the account?"}
    assert any("Delete the account?" in w for w in seen.warnings)
    assert env.text_at(10, 10) == "Delete the account?"  # what the safety policy judges a click by
    env.act(Key(keys=["Return"]))
    assert out(env) == "yes" and "dialog" not in env.observe().extras
    env.act(LeftClick(coordinate=centre(env, "#ask")))
    env.act(Key(keys=["Escape"]))
    assert out(env) == "no"


def test_uploads_only_from_the_upload_folder(page: BrowserEnvironment, tmp_path: Path) -> None:
    env = page
    secret = tmp_path / "secret.txt"
    secret.write_text("no")
    env.act(LeftClick(coordinate=centre(env, "#file")))
    assert any("file chooser" in w and "report.txt" in w for w in env.observe().warnings)
    with pytest.raises(ActionFailed, match="not a file under the upload folder"):
        env.act(Type(text=str(secret)))
    with pytest.raises(ActionFailed, match="not a file under the upload folder"):
        env.act(Type(text="../" + secret.name))
    env.act(Type(text="report.txt"))
    assert out(env) == "report.txt"


def test_uploads_are_off_without_an_upload_folder(tmp_path: Path) -> None:
    (tmp_path / "p.html").write_text("<input id=f type=file style='position:absolute;left:10px;top:10px'>")
    with BrowserEnvironment(SETTINGS.model_copy(update={"start_url": (tmp_path / "p.html").as_uri()})) as env:
        env.reset()
        env.act(LeftClick(coordinate=centre(env, "#f")))
        warnings = env.observe().warnings
        assert any("uploads are off" in w for w in warnings), warnings
        env.act(Type(text="/etc/passwd"))  # goes to the page, not to a chooser
        assert env.page.evaluate("document.getElementById('f').files.length") == 0


@pytest.mark.parametrize("button", ["#dom", "#load", "#go", "#none"])
def test_the_screenshot_after_an_action_shows_its_effect(page: BrowserEnvironment, button: str) -> None:
    env = page
    for _ in range(6):
        env.page.goto("http://test.invalid/start")
        env.act(LeftClick(coordinate=centre(env, button)))
        shot = np.asarray(env.observe().screenshot)
        red = shot[520, 100] if button != "#go" else shot[300, 400]
        expected_red = button != "#none"
        assert (tuple(red) == (255, 0, 0)) == expected_red, (button, tuple(red))
