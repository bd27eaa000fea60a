"""The browser action space: the computer space plus page navigation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from actions.base import Action
from actions.computer import COMPUTER_ACTIONS


class Navigate(Action):
    """Open a URL in the current tab."""

    action: Literal["navigate"] = "navigate"
    url: str = Field(min_length=1, description="The address to open.")


def with_scheme(url: str) -> str:
    """Models often write "example.com": give such addresses a scheme Chromium can open."""
    url = url.strip()
    if "://" in url or url.startswith(("about:", "data:", "javascript:", "chrome:", "file:", "blob:")):
        return url
    host = url.split("/", 1)[0]
    local = host.startswith(("localhost", "127.", "[::1]")) or host.split(":", 1)[0].replace(".", "").isdigit()
    return ("http://" if local else "https://") + url


class Back(Action):
    """Go back one page in the tab's history."""

    action: Literal["back"] = "back"


class Forward(Action):
    """Go forward one page in the tab's history."""

    action: Literal["forward"] = "forward"


BROWSER_ACTIONS: tuple[type[Action], ...] = (*COMPUTER_ACTIONS, Navigate, Back, Forward)
