"""The host an address leads to, read the way Chromium reads it, so allow and deny lists judge the site the
browser will actually visit.

The WHATWG URL standard's essentials: surrounding whitespace and control characters dropped, tabs and
newlines removed, `\\` read as `/` in http(s), the authority taken up to the first `/ ? #`, userinfo
dropped up to the last `@`, the host percent-decoded and mapped as UTS #46 does (full-width letters,
ideographic full stops, case), non-ASCII labels in punycode, numeric IPv4 forms (`0x7f.1`) written
out, and a trailing dot dropped. `example.com`, a scheme-less address, reads as the browser driver
completes it.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import unquote

from actions.browser import with_scheme

# The schemes whose addresses lead to a host (WHATWG's "special" ones), where "\" ends the host as "/" does.
_SPECIAL = ("http", "https", "ws", "wss", "ftp", "file")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(.*)", re.DOTALL)
# The host (an IPv6 address in brackets, or a name) and its optional port.
_HOST_PORT = re.compile(r"(\[[^\]]*\]|[^:\[\]]*)(?::([0-9]*))?")
# What is dropped around an address: whitespace (with_scheme's strip) and control characters (browsers').
_AROUND = "".join(c for c in map(chr, range(0x3001)) if c.isspace() or c <= " ")
# Characters a domain cannot hold (WHATWG's forbidden domain code points); the browser refuses such a host.
_FORBIDDEN = re.compile(r"[\x00-\x20#%/:<>?@\[\\\]^|\x7f]")
# What Chromium drops from a host (UTS #46's ignored characters: soft hyphen, zero-width space, variation
# selectors, ..., and the invisible fillers and format characters it also drops, measured against its parser).
_IGNORED = re.compile("[\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b\u2060-\u2064\u206a-\u206f"
                      "\u3164\ufe00-\ufe0f\ufeff\uffa0\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
                      "\U000e0100-\U000e01ef]")
# What no host the lists can judge holds once mapped: other invisible format and combining-only characters.
_INVISIBLE = ("Cf", "Cc", "Cs", "Co", "Cn", "Zl", "Zp")
# Chromium shows a page's source under this prefix; the page itself is still fetched from its host.
_VIEW_SOURCE = re.compile(r"(?:view-source:)+", re.IGNORECASE)
# Letters UTS #46 maps otherwise than case folding: non-transitional processing (Chromium's) keeps ß and ς.
_DEVIATIONS = {"ß": "ß", "ς": "ς", "ẞ": "ß"}
# One number of an IPv4 address: hexadecimal, octal or decimal.
_IPV4_PART = re.compile(r"0[xX]([0-9a-fA-F]*)|(0[0-7]*)|([1-9][0-9]*)")


def address_host(address: str) -> str | None:
    """The host the browser visits for `address`, canonical (lower case, ASCII, no trailing dot), or None
    where it visits none (no authority: `about:`, `data:`, `file:///`, or a host the browser refuses)."""
    text = re.sub(r"[\t\n\r]", "", address.strip(_AROUND))
    text = with_scheme(_VIEW_SOURCE.sub("", text, count=1) if _VIEW_SOURCE.match(text) else text)
    m = _SCHEME.fullmatch(text)
    if not m:
        return None
    scheme, rest = m.group(1).lower(), m.group(2).replace("\\", "/")
    if scheme not in _SPECIAL:
        return None  # about:, data:, javascript:, mailto: and other schemes lead to no site
    if scheme != "file":  # "https:evil.com" and "https:////evil.com" both reach evil.com
        rest = "//" + rest.lstrip("/")
    elif not rest.startswith("//"):
        return None
    authority = re.split(r"[/?#]", rest[2:], maxsplit=1)[0]
    m = _HOST_PORT.fullmatch(authority.rpartition("@")[2])
    port = (m.group(2) or "").lstrip("0") if m else ""
    if not m or len(port) > 5 or (port and int(port) > 65535):  # a port that is not one: the browser refuses
        return None
    return _canonical_host(m.group(1))


def _canonical_host(host: str) -> str | None:
    """A host as written in an address -> its canonical form, or None where the browser refuses it."""
    if host.startswith("["):
        try:
            return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
        except ValueError:
            return None
    try:
        host = unquote(host, errors="strict")
    except UnicodeDecodeError:
        return None
    # UTS #46 mapping: drop the characters it ignores (soft hyphen, zero-width space, ...), fold case and
    # compatibility forms (ＥＶＩＬ -> evil), and read every ideographic full stop as a dot.
    host = unicodedata.normalize("NFKC", _IGNORED.sub("", host))
    host = unicodedata.normalize("NFKC", "".join(_DEVIATIONS.get(c) or c.casefold() for c in host))
    host = host.replace("\u3002", ".").rstrip(".")
    if not host or _FORBIDDEN.search(host) or any(unicodedata.category(c) in _INVISIBLE for c in host):
        return None
    labels = host.split(".")
    if _is_number(labels[-1]):
        return _ipv4(labels)
    return ".".join(label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
                    for label in labels)


def _is_number(part: str) -> bool:
    return part.isascii() and (part.isdigit() or _IPV4_PART.fullmatch(part) is not None)


def _ipv4(labels: list[str]) -> str | None:
    """A host ending in a number is an IPv4 address, in any of the forms browsers accept (2130706433,
    0x7f.1, 0177.0.0.1); None where it is not a valid one, which the browser refuses too."""
    numbers = []
    for label in labels:
        m = _IPV4_PART.fullmatch(label)
        if not m or len(label.lstrip("0xX")) > 12:  # no IPv4 number is that long (and int() caps digits)
            return None
        hexa, octal, decimal = m.groups()
        numbers.append(int(hexa or "0", 16) if hexa is not None else int(octal, 8) if octal is not None
                       else int(decimal))
    if len(numbers) > 4 or any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        return None
    value = numbers[-1] + sum(n * 256 ** (3 - i) for i, n in enumerate(numbers[:-1]))
    return str(ipaddress.IPv4Address(value))
