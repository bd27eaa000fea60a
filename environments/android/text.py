"""Turning text into `adb shell` command lines that type it exactly and never run as shell.

`adb shell CMD` hands CMD to the device's `sh -c`, and Android's `input text ARG` then turns every
`%s` in ARG into a space. So each piece of text is (1) split at newlines, which become
KEYCODE_ENTER, and after any `%` that precedes an `s`, so a literal "%s" cannot become a space;
(2) given `%s` for each space; (3) wrapped in single quotes, inside which sh treats every character
(`$ ; & | < > ( ) # \\ " ` * ? ~ !` and the rest) literally; a `'` itself is closed, escaped and
reopened. `input text` can only type what its key map has: printable ASCII and tab. Anything else
goes through ADBKeyboard's base64 broadcast, whose argument is base64 and so needs no quoting.
"""

from __future__ import annotations

import base64

# `input text` of a very long argument is slow and some shells cap the line; type long text in pieces.
MAX_CHUNK = 200
ADB_KEYBOARD_IME = "com.android.adbkeyboard/.AdbIME"
ADB_KEYBOARD_PACKAGE = "com.android.adbkeyboard"


def shell_quote(word: str) -> str:
    """`word` as one POSIX-sh word that expands to exactly `word`."""
    return "'" + word.replace("'", "'\\''") + "'"


def is_input_text_typable(text: str) -> bool:
    """True if `input text` (plus KEYCODE_ENTER for newlines) can type all of `text`."""
    return all(32 <= ord(c) < 127 or c in "\t\n" for c in text.replace("\r\n", "\n"))


def encode_for_input_text(piece: str) -> str:
    """Spaces as `%s`, the form Android's `input text` turns back into spaces."""
    if "\n" in piece:
        raise ValueError("newlines are typed as KEYCODE_ENTER; split the text first")
    return piece.replace(" ", "%s")


def _pieces(line: str) -> list[str]:
    """Split one line so no piece holds a literal `%` followed by `s`, and none is longer than MAX_CHUNK."""
    out: list[str] = []
    start = 0
    for i, c in enumerate(line):
        cut = (c == "s" and i > start and line[i - 1] == "%") or i - start >= MAX_CHUNK
        if cut:
            out.append(line[start:i])
            start = i
    if start < len(line):
        out.append(line[start:])
    return out


def input_text_commands(text: str) -> list[str]:
    """Shell command lines that type `text` (printable ASCII, tab, newline) exactly, in order."""
    if not is_input_text_typable(text):
        raise ValueError(f"{text!r} has characters `input text` cannot type; use adb_keyboard_command")
    commands: list[str] = []
    for n, line in enumerate(text.replace("\r\n", "\n").split("\n")):
        if n:
            commands.append("input keyevent KEYCODE_ENTER")
        commands += [f"input text {shell_quote(encode_for_input_text(p))}" for p in _pieces(line)]
    return commands


def adb_keyboard_command(text: str) -> str:
    """ADBKeyboard's broadcast that commits `text` (any Unicode) to the focused field."""
    msg = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return f"am broadcast -a ADB_INPUT_B64 --es msg {msg}"
