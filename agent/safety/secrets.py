"""Secrets the agent may type but never see: the model writes `{{NAME}}`, the driver types the value.

The value is put in only at the last moment, in the text of a `type` action handed to the driver; everything
written or logged passes through `redact`, so the value never reaches prompts, logs, recordings or reports,
however it comes back written (see `redaction`: normalised, spaced, encoded, short of a character). Drivers
never log or quote typed text in the first place; redaction is what catches a page, a model or a library
that repeats it. Only values are redacted, never a dictionary's keys or a secret's own placeholder, so a
recording keeps its schema and replays.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from actions.base import Action, Type
from agent.safety.redaction import Redactor
from environments.base import ActionFailed

ENV_PREFIX = "AGENT_SECRET_"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_PLACEHOLDER = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]{0,63})\}\}")
# A shorter value turns up in ordinary words and numbers, which would all be blanked out; a 4-digit PIN works.
MIN_LENGTH = 4


class SecretError(ValueError):
    """A malformed or missing secret; raised at start, before anything runs."""


def placeholder(name: str) -> str:
    return "{{" + name + "}}"


class Secrets:
    """Named values, e.g. Secrets({"PASSWORD": "hunter2"}); the model knows them only as {{PASSWORD}}."""

    def __init__(self, values: Mapping[str, str] | None = None):
        self._values = dict(values or {})
        for name, value in self._values.items():
            if not _NAME.match(name):
                raise SecretError(f"secret name {name!r} is not usable: use letters, digits and _, e.g. PASSWORD")
            if not value:
                raise SecretError(f"secret {name} is empty; give it a value with --secret {name}=VALUE")
            if len(value) < MIN_LENGTH:
                raise SecretError(f"secret {name} is shorter than {MIN_LENGTH} characters, too short to tell apart "
                                  "from ordinary text in logs and recordings; use a longer value")
            if _PLACEHOLDER.search(value):
                raise SecretError(f"secret {name} holds a placeholder ({_PLACEHOLDER.search(value).group(0)}); "
                                  "give the value itself")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # a byte os.environ could not decode comes as a lone surrogate
                raise SecretError(f"secret {name} is not valid UTF-8 text; give its value as UTF-8") from None
        self._redactor = Redactor(self._values) if self._values else None

    @classmethod
    def from_cli(cls, pairs: Iterable[str], environ: Mapping[str, str] | None = None) -> Secrets:
        """`NAME=VALUE` pairs, plus every AGENT_SECRET_NAME variable of the environment."""
        environ = os.environ if environ is None else environ
        values = {k[len(ENV_PREFIX):]: v for k, v in environ.items() if k.startswith(ENV_PREFIX)}
        for pair in pairs:
            name, sep, value = pair.partition("=")
            if not sep:
                raise SecretError(f"--secret {name!r} has no value; write it as --secret NAME=VALUE")
            values[name.strip()] = value
        return cls(values)

    @property
    def names(self) -> list[str]:
        return sorted(self._values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def check_used(self, text: str) -> None:
        """Refuse, at start, a task that names a secret nobody gave."""
        missing = sorted({m.group(1) for m in _PLACEHOLDER.finditer(text)} - set(self._values))
        if missing:
            given = ", ".join(self.names) or "none"
            raise SecretError(
                f"the task uses {', '.join(placeholder(n) for n in missing)} but no such secret was given "
                f"(given: {given}); pass --secret {missing[0]}=VALUE or set {ENV_PREFIX}{missing[0]}"
            )

    def instructions(self) -> str:
        """What the model is told: the placeholders it may type, never the values."""
        if not self._values:
            return ""
        names = ", ".join(placeholder(n) for n in self.names)
        return (f"\n\nSecrets such as passwords are hidden from you. To type one, write its placeholder exactly "
                f"as text to type: {names}.")

    def reveal(self, action: Action) -> Action:
        """The action for the driver: placeholders in the text of a `type` action replaced by the values.

        A secret's placeholder anywhere else is refused with a message for the model (ActionFailed): in an
        address the value would travel to a server and come back in error messages and page addresses; in
        an app or key name it can only be a mistake.
        """
        for name, value in action:
            if isinstance(action, Type) and name == "text":
                continue
            # A list too: a `key` action's keys, refused here before the driver calls the placeholder an unknown key.
            texts = [t for t in (value if isinstance(value, (list, tuple)) else [value]) if isinstance(t, str)]
            if used := sorted({m.group(1) for t in texts for m in _PLACEHOLDER.finditer(t)} & self._values.keys()):
                raise ActionFailed(
                    f"{', '.join(placeholder(n) for n in used)} stands for a secret, which is only typed into a "
                    f"field with the type action, never put in the {name} of a {action.action} action; click "
                    "the field and type it there"
                )
        if not isinstance(action, Type) or "{{" not in action.text:
            return action
        return action.model_copy(
            update={"text": _PLACEHOLDER.sub(lambda m: self._values.get(m.group(1), m.group(0)), action.text)})

    def redact(self, text: str) -> str:
        """`text` with every value, however it comes back written (see `redaction`), as its placeholder."""
        return self._redactor.redact(text) if self._redactor else text

    def redact_data(self, data: Any) -> Any:
        """`redact` over every string value inside JSON-like data; keys are the data's schema and stay as they are.

        The model's own text is redacted too: it never gets the value, but it can read one off the screen (a
        visible field, a page echoing it) and repeat it. The price is a coincidence: a PIN equal to a number
        the model wrote, a coordinate say, is blanked out there too, and that answer no longer parses on replay.
        """
        if not self._values:
            return data
        if isinstance(data, str):
            return self.redact(data)
        if isinstance(data, dict):
            return {k: self.redact_data(v) for k, v in data.items()}
        if isinstance(data, (list, tuple)):
            return [self.redact_data(v) for v in data]
        return data

