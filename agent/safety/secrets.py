"""Secrets the agent may type but never see: the model writes `{{NAME}}`, the driver types the value.

The value is put in only at the last moment, in the text of a `type` action handed to the driver; everything
written or logged passes through `redact`, so the value never reaches prompts, logs, recordings or reports,
whether it comes back as typed, percent-encoded (a page's address), in other letter case (a host name) or
escaped (a driver's message quoting the text it typed). Only values are redacted, never a dictionary's keys or
a secret's own placeholder, so a recording keeps its schema and replays.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from actions.base import Action, Type
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
        # One pass: the secrets' placeholders first, matched in their exact case and kept as they are, so a value
        # such as "password" never rewrites {{PASSWORD}}; then the values, longest first, so a value that contains
        # another is redacted whole.
        kept = "|".join(re.escape(placeholder(name)) for name in self._values)
        by_length = sorted(self._values.items(), key=lambda kv: -len(kv[1]))
        self._pattern = re.compile(
            "|".join([f"(?-i:{kept})", *(f"(?P<{name}>{_written(value)})" for name, value in by_length)]),
            re.IGNORECASE) if by_length else None

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
        if self._pattern is None:
            return text
        # A match with no group name is a kept placeholder.
        return self._pattern.sub(lambda m: placeholder(m.lastgroup) if m.lastgroup else m.group(0), text)

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


def _written(value: str) -> str:
    """A regular expression for the value however it comes back written: each character as is,
    percent-encoded (in an address), escaped as repr() escapes it (a driver's `typed {text!r}`), or a space
    as "+" (a form's query), in any mix and letter case (a host name is lower-cased)."""
    # Full case mappings change lengths (ß -> SS) where IGNORECASE matches letter by letter; a page that
    # collapses whitespace shows the value with single spaces.
    whole = {value.upper(), value.casefold(), " ".join(value.split())} - {value}
    parts = []
    for c in value:
        forms = {c, quote(c, safe=""), repr(c)[1:-1]}
        if c in "'\"":
            forms.add("\\" + c)  # repr() escapes whichever quote it puts around the text
        if c == " ":
            forms.add("+")
        parts.append("(?:" + "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)) + ")")
    whole = {w for w in whole if len(w) >= MIN_LENGTH}  # "a   " collapsed to "a" would blank every "a"
    return "|".join(["".join(parts), *(re.escape(w) for w in sorted(whole, key=len, reverse=True))])
