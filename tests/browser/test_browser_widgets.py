"""Chromium's native widgets and dialogs on the driver's virtual display, used as a person uses them: an
option clicked where the open list shows it, a date clicked in the open calendar, a confirm answered by keys and by a click on its drawn OK, a
prompt answered by typing, a tooltip shown, uploads only under --upload-dir, and the screenshot taken once
the page has drawn the action. Where things are is read from the screenshot, as the model would, not from the DOM."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageChops

from actions.base import Type, Wait
from actions.computer import Key, LeftClick, MouseMove
from environments.base import ActionFailed, Dialog
from environments.browser.driver import BrowserEnvironment, BrowserSettings, virtual_display_problem

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
        route.fulfill(body="ok")

    env.page().unroute("**/*")
    env.page().route("**/slow", slow)
    env.page().route("**/red", lambda route: route.fulfill(body="<body style='margin:0;background:red'>", content_type="text/html"))
    env.page().route("**/start", lambda route: route.fulfill(body=PAGE, content_type="text/html"))
    env.page().goto("http://test.invalid/start")
    env.observe()
    return env


def centre(env: BrowserEnvironment, selector: str) -> tuple[int, int]:
    box = env.page().locator(selector).bounding_box()
    return round(box["x"] + box["width"] / 2), round(box["y"] + box["height"] / 2)


def out(env: BrowserEnvironment) -> str:
    return str(env.page().evaluate("document.getElementById('out').textContent"))


def changed_box(before: Image.Image, after: Image.Image) -> tuple[int, int, int, int]:
    """The box (left, top, right, bottom) of what differs between two screenshots."""
    box = ImageChops.difference(before, after).getbbox()
    assert box is not None, "the screen did not change"
    return box


def test_an_option_is_chosen_by_a_click_where_the_open_list_shows_it(page: BrowserEnvironment) -> None:
    env = page
    closed = env.observe().screenshot
    env.act(LeftClick(coordinate=centre(env, "#pick")))
    shown = env.observe().screenshot
    left, top, right, bottom = changed_box(closed, shown)
    below = max(top, 45)  # the list opens under the control, which itself changes (focus ring)
    assert bottom - below > 80, "the open list is not on the screenshot"
    # Drawn, not just mapped: Chromium shows the list's window a frame or more before it paints the options.
    assert np.asarray(shown.crop((left, below, right, bottom))).std() > 30, "the open list is blank"
    row = (bottom - below) / 4  # four options, one row each
    env.act(LeftClick(coordinate=((left + right) // 2, round(below + 2.5 * row))))
    assert env.page().evaluate("document.getElementById('pick').value") == "charlie"
    assert ImageChops.difference(env.observe().screenshot.crop((0, 50, 200, 200)),
                                 closed.crop((0, 50, 200, 200))).getbbox() is None, "the list stayed open"


def blue_box(image: Image.Image, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The box of the area filled in saturated blue (a default button, a picker's highlighted cell) inside
    `box`: columns with at least 20 such pixels, then the rows that fill them, so blue text (a link, "Today")
    is left out."""
    pixels = np.asarray(image.crop(box)).astype(int)
    blue = (pixels[..., 2] > 150) & (pixels[..., 0] < 80) & (pixels[..., 2] - pixels[..., 1] > 60)
    xs = np.nonzero(blue.sum(axis=0) >= 20)[0]
    assert len(xs), "nothing filled in blue there"
    ys = np.nonzero(blue[:, xs.min(): xs.max() + 1].sum(axis=1) >= 0.8 * len(xs))[0]
    return box[0] + xs.min(), box[1] + ys.min(), box[0] + xs.max() + 1, box[1] + ys.max() + 1


def test_a_date_is_picked_by_a_click_in_the_open_calendar(page: BrowserEnvironment) -> None:
    env = page
    env.page().set_content("<input id=d type=date style='position: absolute; left: 40px; top: 40px; font-size: 16px'>")
    before = env.observe().screenshot
    box = env.page().locator("#d").bounding_box()
    env.act(LeftClick(coordinate=(round(box["x"] + box["width"] - 12), round(box["y"] + box["height"] / 2))))
    shown = env.observe().screenshot
    # Today's cell is highlighted; the cell under it is a week later (the grid's rows are as tall as a cell).
    left, top, right, bottom = blue_box(shown, changed_box(before, shown))
    env.act(LeftClick(coordinate=((left + right) // 2, (top + bottom) // 2 + (bottom - top))))
    week_later = env.page().evaluate("""() => { const d = new Date(); d.setDate(d.getDate() + 7);
        return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`; }""")
    assert env.page().evaluate("document.getElementById('d').value") == week_later


def test_a_confirm_is_accepted_by_a_click_on_its_drawn_ok(page: BrowserEnvironment) -> None:
    env = page
    before = env.observe().screenshot
    env.act(LeftClick(coordinate=centre(env, "#ask")))
    seen = env.observe()
    assert seen.extras.dialog is not None and seen.extras.dialog.type == "confirm"
    # OK is the dialog's one filled, saturated blue button.
    left, top, right, bottom = blue_box(seen.screenshot, changed_box(before, seen.screenshot))
    env.act(LeftClick(coordinate=((left + right) // 2, (top + bottom) // 2)))
    assert env.observe().extras.dialog is None
    assert out(env) == "yes"


def test_a_prompt_is_answered_by_typing_and_an_alert_is_read(page: BrowserEnvironment) -> None:
    env = page
    env.act(LeftClick(coordinate=centre(env, "#name")))
    assert env.observe().extras.dialog == Dialog(type="prompt", message="Your name?")
    env.act(Type(text="Zoë 你好 ☃"))  # characters the X keyboard map lacks, as well
    env.act(Key(keys=["Return"]))
    assert out(env) == "hi Zoë 你好 ☃"
    env.act(LeftClick(coordinate=centre(env, "#alert")))
    seen = env.observe()
    assert seen.extras.dialog == Dialog(type="alert", message="Saved.")
    assert any("Saved." in w for w in seen.warnings)
    env.act(Key(keys=["Return"]))
    assert out(env) == "after alert"


def test_a_confirm_is_seen_and_accepted_by_enter_or_dismissed_by_escape(page: BrowserEnvironment) -> None:
    env = page
    env.act(LeftClick(coordinate=centre(env, "#ask")))
    seen = env.observe()
    assert seen.extras.dialog == Dialog(type="confirm", message="Delete the account?")
    assert any("Delete the account?" in w for w in seen.warnings)
    assert env.text_at(10, 10) == "Delete the account?"  # what the safety policy judges a click by
    env.act(Key(keys=["Return"]))
    assert out(env) == "yes" and env.observe().extras.dialog is None
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
        assert env.page().evaluate("document.getElementById('f').files.length") == 0


def test_a_tooltip_shows_where_the_pointer_rests(page: BrowserEnvironment) -> None:
    env = page
    env.page().set_content("<button id=b title='Deletes every file' style='position: absolute; left: 100px; "
                         "top: 100px'>hover me</button>")
    before = env.observe().screenshot
    env.act(MouseMove(coordinate=centre(env, "#b")))
    env.act(Wait(time=1.5))  # Chromium shows a title after the pointer has rested a moment
    left, top, right, bottom = changed_box(before, env.observe().screenshot)
    assert bottom >= 135 and right - left >= 120, "no tooltip under the button (the button ends at y=121)"


def test_a_change_made_by_a_script_between_actions_is_on_the_next_screenshot(page: BrowserEnvironment) -> None:
    env = page
    for colour in ["rgb(255, 0, 0)", "rgb(0, 0, 255)"] * 3:  # what a task's setup or its clock does to the page
        env.page().set_content(f"<body style='margin: 0; background: {colour}'>")
        assert f"rgb{tuple(env.observe().screenshot.getpixel((100, 520)))}" == colour


@pytest.mark.parametrize("button", ["#dom", "#load", "#go", "#none"])
def test_the_screenshot_after_an_action_shows_its_effect(page: BrowserEnvironment, button: str) -> None:
    env = page
    for _ in range(6):
        env.page().goto("http://test.invalid/start")
        env.act(LeftClick(coordinate=centre(env, button)))
        shot = np.asarray(env.observe().screenshot)
        red = shot[520, 100] if button != "#go" else shot[300, 400]
        expected_red = button != "#none"
        assert (tuple(red) == (255, 0, 0)) == expected_red, (button, tuple(red))
