"""Asking a human before a risky action: a prompt in the terminal, or a refusal where there is none."""

from __future__ import annotations

import sys
from typing import Protocol

from rich.console import Console

from actions.base import Action
from agent.safety.policy import Assessment


class Confirmer(Protocol):
    def confirm(self, action: Action, assessment: Assessment, screenshot: str) -> tuple[bool, str]:
        """(allowed, who decided and why), for the recording."""
        ...


class TerminalConfirmer:
    """Asks on the terminal. Without one (CI, no stdin, a pipe), asking means refusing."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)

    def confirm(self, action: Action, assessment: Assessment, screenshot: str) -> tuple[bool, str]:
        if not (sys.stdin and sys.stdin.isatty()):
            return False, "refused: no terminal to ask for confirmation"
        self.console.print("[bold yellow]The agent wants to do something risky:[/]", markup=True)
        self.console.print(f"  action: {action.arguments()}", highlight=False, markup=False)
        for reason in assessment.reasons:
            self.console.print(f"  why asked: {reason}", highlight=False, markup=False)
        if screenshot:
            self.console.print(f"  screen: {screenshot}", highlight=False, markup=False)
        try:
            answer = input("Allow it? [y/N] ").strip().lower()
        except EOFError:
            return False, "refused: no answer"
        return (True, "allowed by the user") if answer in ("y", "yes") else (False, "refused by the user")
