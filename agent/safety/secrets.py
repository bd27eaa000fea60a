"""Secrets the agent may type but never see: the model writes `{{NAME}}`, the driver types the value.

The value is put in only at the last moment, in the action handed to the driver; everything written or
logged passes through `redact`, so the value never reaches prompts, logs, recordings or reports.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from actions.base import Action

ENV_PREFIX = "AGENT_SECRET_"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_PLACEHOLDER = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]{0,63})\}\}")
# Action fields whose text a driver types or visits, where a placeholder may stand.
_TEXT_FIELDS = ("text", "url")


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
        # Longest first, so a value that contains another is redacted whole.
        self._by_length = sorted(self._values.items(), key=lambda kv: -len(kv[1]))

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
        """The action for the driver: placeholders in typed text and URLs replaced by the values."""
        updates = {}
        for name in _TEXT_FIELDS:
            value = getattr(action, name, None)
            if isinstance(value, str) and "{{" in value:
                updates[name] = _PLACEHOLDER.sub(lambda m: self._values.get(m.group(1), m.group(0)), value)
        return action.model_copy(update=updates) if updates else action

    def redact(self, text: str) -> str:
        for name, value in self._by_length:
            if value in text:
                text = text.replace(value, placeholder(name))
        return text

    def redact_data(self, data: Any) -> Any:
        """`redact` over every string inside JSON-like data."""
        if not self._values:
            return data
        if isinstance(data, str):
            return self.redact(data)
        if isinstance(data, dict):
            return {self.redact_data(k): self.redact_data(v) for k, v in data.items()}
        if isinstance(data, (list, tuple)):
            return [self.redact_data(v) for v in data]
        return data
