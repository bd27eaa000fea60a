"""Finding a secret's value in text however it comes back written, and putting its placeholder there.

A value is found:
- after Unicode normalisation, in the text as in the value: NFKC and NFD (a page showing it decomposed,
  in full-width letters), case folded (a host name is lower-cased; "STRASSE" is "straße"), invisible
  characters aside (a zero-width space between two letters);
- with any run of whitespace where the value has some, no-break spaces included (a page that collapses or
  replaces spaces), and spaces as drivers and addresses write them (`%s` for adb's `input text`, `+`, `%20`);
- character by character as drivers and recordings encode it: percent-encoded (a page's address), escaped
  as repr() and JSON escape it (a driver's message), a quote closed and reopened by shell quoting (adb's
  `'it'\\''s'`), in any mix;
- as base64 (ADBKeyboard's broadcast), at any of the three alignments it can have inside longer text;
- short of its last or first character, for values of 7 characters or more: a page that shows all but
  one character has still shown the value. The rule is "any part at least max(6, length - 1) characters
  long"; a shorter part of a short value is too likely to be an ordinary word to blank out.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from urllib.parse import quote

from agent.safety.reading import is_invisible

# A value this long or longer is also found short of one character at either end (max(6, length - 1) >= 6).
PARTIAL_FROM = 7
# Whitespace as it comes back: any of it (no-break spaces are \s too), adb's `%s`, a form's `+`, and the
# percent and escape forms of the spaces that NFKC does not fold away in an encoded text.
_SPACE_FORMS = {"+", "%s"} | {f for c in " \t\n\u00a0\u202f\u3000"
                             for f in (quote(c, safe=""), repr(c)[1:-1], json.dumps(c)[1:-1])}
_SPACE = "(?:\\s|" + "|".join(re.escape(f.lower()) for f in sorted(_SPACE_FORMS, key=len, reverse=True)) + ")+"


def canonical(text: str) -> str:
    """Text as values are compared: invisible characters dropped, NFKC, case folded (NFKC again, since
    folding can undo it)."""
    visible = "".join(c for c in text if not is_invisible(c))
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", visible).casefold())


def _clusters(text: str) -> Iterator[tuple[int, int]]:
    """The spans of `text`'s characters, each with the combining marks that follow it (NFD's "e" + acute)."""
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or not unicodedata.category(text[i]).startswith("M"):
            yield start, i
            start = i


def _view(text: str) -> tuple[str, list[tuple[int, int]] | None]:
    """`text` in canonical form, and for each of its characters the span of `text` it came from (None: the
    same index, for ASCII text, which only changes case)."""
    if text.isascii():
        return text.lower(), None
    pieces, spans = [], []
    for start, end in _clusters(text):
        piece = _canonical_cluster(text[start:end])
        pieces.append(piece)
        spans += [(start, end)] * len(piece)
    return "".join(pieces), spans


@functools.lru_cache(maxsize=8192)
def _canonical_cluster(cluster: str) -> str:
    # Pages and prompts repeat their characters: a cache makes a long Chinese text a few times faster.
    return canonical(cluster)


def _character(cluster: str) -> str:
    """A regular expression for one character of a value (with its marks), however it comes back written."""
    forms: set[str] = set()
    for form in {unicodedata.normalize(f, cluster) for f in ("NFC", "NFD", "NFKC")}:
        forms |= {form, quote(form, safe=""), repr(form)[1:-1], json.dumps(form)[1:-1]}
    if cluster in "'\"":
        forms.add("\\" + cluster)  # repr() escapes whichever quote it puts around the text
    if cluster == "'":
        forms.add("'\\''")  # environments.android.text.shell_quote
    written = sorted({c for c in map(canonical, forms) if c}, key=len, reverse=True)
    # An invisible character reads as nothing, so it may be missing where the value comes back.
    optional = "?" if not canonical(cluster) else ""
    return "(?:" + "|".join(map(re.escape, written)) + ")" + optional


def _spelled(value: str) -> str:
    """A regular expression for `value` however it comes back written (see the module's list)."""
    text = unicodedata.normalize("NFC", value.strip())
    units: list[str] = []
    for start, end in _clusters(text):
        if text[start:end].isspace():
            if units[-1] != _SPACE:
                units.append(_SPACE)
        else:
            units.append(_character(text[start:end]))
    if len(units) < 4:  # mostly spaces ("a   "): only the value exactly as given
        return re.escape(canonical(value))
    if len(units) < PARTIAL_FROM:
        return "".join(units)
    return "|".join("".join(part) for part in (units, units[:-1], units[1:]))


def _base64_cores(value: str) -> list[str]:
    """The base64 of `value`'s UTF-8 as it appears inside the base64 of longer text: for each of the three
    offsets it can start at, the characters that only its own bytes decide."""
    data = value.encode("utf-8")
    cores = []
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data).decode("ascii")
        cores.append(encoded[(8 * offset + 5) // 6:8 * (offset + len(data)) // 6])
    return cores


class Redactor:
    """Puts `{{NAME}}` where any of the values comes back written, longest value first, so one that holds
    another is redacted whole; the values' own placeholders, written exactly, are left as they are."""

    def __init__(self, values: Mapping[str, str]):
        by_length = sorted(values.items(), key=lambda kv: -len(kv[1]))
        self._kept = re.compile("(" + "|".join(re.escape("{{" + name + "}}") for name, _ in by_length) + ")")
        self._encoded = re.compile("|".join(f"(?P<{name}>{'|'.join(map(re.escape, _base64_cores(value)))})"
                                            for name, value in by_length))
        self._written = re.compile("|".join(f"(?P<{name}>{_spelled(value)})" for name, value in by_length),
                                   re.IGNORECASE)

    def redact(self, text: str) -> str:
        # Alternately text to search and placeholders already there; each pass searches the text parts only.
        pieces = self._kept.split(text)
        for find in (self._find_encoded, self._find_written):
            pieces = [q for i, p in enumerate(pieces) for q in (_replaced(p, find(p)) if i % 2 == 0 else [p])]
        return "".join(pieces)

    def _find_encoded(self, text: str) -> Iterator[tuple[int, int, str]]:
        return ((m.start(), m.end(), str(m.lastgroup)) for m in self._encoded.finditer(text))

    def _find_written(self, text: str) -> Iterator[tuple[int, int, str]]:
        view, spans = _view(text)
        for m in self._written.finditer(view):
            if m.end() > m.start():
                start, end = (m.start(), m.end()) if spans is None else (spans[m.start()][0], spans[m.end() - 1][1])
                yield start, end, str(m.lastgroup)


def _replaced(text: str, found: Iterable[tuple[int, int, str]]) -> list[str]:
    """`text` cut at the spans found: the parts between them, with each span's placeholder between those."""
    out, last = [], 0
    for start, end, name in found:
        if start >= last:
            out += [text[last:start], "{{" + name + "}}"]
            last = end
    return [*out, text[last:]]
