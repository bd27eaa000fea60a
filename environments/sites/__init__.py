"""Websites shipped with the project and served from this machine, so a first run needs no internet.

`flights` is Skylark Air, a small booking site: a cookie banner, city fields with a suggestion list, a native
date picker and passenger menu, sortable results, a passenger form that checks what it is given, and a
"Pay … and book" button the safety policy asks about. It keeps its state in the address (back and forward
work) and in the browser's storage, and takes no payment.
"""

from __future__ import annotations

SITES: dict[str, str] = {"flights": "Skylark Air: search, choose and book a flight; no payment is taken"}


def site_problem(name: str) -> str | None:
    """Why `name` is not a shipped site, or None."""
    if name in SITES:
        return None
    return f"no shipped site is called {name!r}; the sites are: {', '.join(sorted(SITES))}"
