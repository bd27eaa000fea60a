"""The shipped flight site, served on this machine, is booked end to end the way a person books it: a cookie
banner dismissed, cities picked from the suggestion list, a date typed into Chromium's date field, a flight
chosen, the passenger form filled in (and its checks seen), and the payment button pressed, all through the
driver's actions on the virtual display."""

from __future__ import annotations

import datetime as dt
import urllib.request
from collections.abc import Iterator

import pytest

from actions.base import Type
from actions.computer import Key, LeftClick
from environments.browser.driver import BrowserEnvironment, BrowserSettings, virtual_display_problem
from environments.sites import SITES
from environments.sites.server import LocalSite

SETTINGS = BrowserSettings(viewport_width=1024, viewport_height=768, display="virtual", site="flights")
needs_display = pytest.mark.skipif(virtual_display_problem(SETTINGS) is not None,
                                   reason=str(virtual_display_problem(SETTINGS)))


def test_a_site_is_served_on_this_machine_and_unknown_ones_are_refused() -> None:
    with LocalSite("flights") as site:
        assert site.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(site.url) as page:
            assert b"Skylark Air" in page.read() and page.headers["Cache-Control"] == "no-store"
        with urllib.request.urlopen(site.url + "app.js") as script:
            assert b"AIRPORTS" in script.read()
    with pytest.raises(ValueError, match="no shipped site is called 'shop'; the sites are: flights"):
        LocalSite("shop")
    with pytest.raises(ValueError, match="give one"):
        BrowserSettings(site="flights", start_url="https://example.com")
    assert set(SITES) == {"flights"}


@pytest.fixture(scope="module")
def env() -> Iterator[BrowserEnvironment]:
    environment = BrowserEnvironment(SETTINGS)
    environment.reset()
    yield environment
    environment.close()


def centre(env: BrowserEnvironment, selector: str) -> tuple[int, int]:
    box = env.page().locator(selector).first.bounding_box()
    return round(box["x"] + box["width"] / 2), round(box["y"] + box["height"] / 2)


def click(env: BrowserEnvironment, selector: str) -> None:
    env.act(LeftClick(coordinate=centre(env, selector)))


def text(env: BrowserEnvironment, selector: str) -> str:
    return str(env.page().locator(selector).first.inner_text())


@needs_display
def test_a_flight_is_booked_through_the_drivers_actions(env: BrowserEnvironment) -> None:
    assert env.page().title() == "Skylark Air: book a flight"
    click(env, "[data-cookies=accept]")
    assert env.page().locator("#cookies").is_hidden()

    click(env, "#from")
    env.act(Type(text="Lis"))
    assert text(env, "#from-list li").startswith("Lisbon")
    click(env, "#from-list li")  # a click on the suggestion, as a person picks it
    click(env, "#to")
    env.act(Type(text="par"))
    env.act(Key(keys=["Enter"]))  # or the highlighted one by Enter
    assert env.page().input_value("#from") == "Lisbon (LIS)" and env.page().input_value("#to") == "Paris (CDG)"

    click(env, "#search button[type=submit]")
    assert text(env, "#search-error") == "Choose a departure date."
    day = dt.date.today() + dt.timedelta(days=30)
    box = env.page().locator("#date").bounding_box()
    env.act(LeftClick(coordinate=(round(box["x"] + 14), round(box["y"] + box["height"] / 2))))  # the month
    env.act(Type(text=day.strftime("%m%d%Y")))
    assert env.page().input_value("#date") == day.isoformat()
    click(env, "#search button[type=submit]")

    assert env.page().title() == "Flights Lisbon to Paris"
    prices = [int(p.replace("€", "")) for p in env.page().locator(".price").all_inner_texts()]
    assert len(prices) == 6 and prices == sorted(prices)  # cheapest first
    click(env, "[data-flight]")

    click(env, "#passenger button[type=submit]")
    assert text(env, "#passenger-error") == "Enter the first name as in the passport."
    for field, value in (("#first", "Ana"), ("#last", "Silva"), ("#email", "ana.silva")):
        click(env, field)
        env.act(Type(text=value))
    click(env, "#passenger button[type=submit]")
    assert text(env, "#passenger-error") == "Enter an email address like name@example.com."
    click(env, "#email")
    env.act(Type(text="@example.com"))
    click(env, "#passenger button[type=submit]")

    assert env.page().title() == "Review your booking"
    assert text(env, "#pay") == f"Pay €{prices[0]} and book"
    click(env, "#pay")
    assert env.page().title().startswith("Booked: SKY-")
    assert "Ana Silva, LIS → CDG" in text(env, "main")
    env.act(Key(keys=["alt", "Left"]))  # back works as on a real site: the review page again
    assert env.page().title() == "Review your booking"


@needs_display
def test_the_site_comes_back_fresh_on_reset(env: BrowserEnvironment) -> None:
    env.reset()
    assert env.page().title() == "Skylark Air: book a flight"
    assert env.page().locator("#cookies").is_visible()  # a new browser context: no stored choices or trips
    click(env, "a[href='#trips']")
    assert "No trips yet" in text(env, "main")
