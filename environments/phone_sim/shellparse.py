r"""A small POSIX-sh word splitter for the simulated device's shell; it never runs anything on the host.

It follows `sh` where escaping matters: single quotes take everything literally, double quotes keep
`\\` only before `$ \` " \\` and newline, a backslash outside quotes escapes the next character, `#`
starting a word begins a comment, unquoted `$name`/`${name}`/`$?` expand (to the device environment),
a `~` alone or before `/` (at a word's start or after its `=`) is $HOME, and `;`, `&&`, `||` separate
commands. Syntax errors carry mksh's own messages (Android's /system/bin/sh is mksh; tests compare the
two). Anything this shell does not do (pipes, redirection, command substitution, background jobs,
subshells) is a `ShellSyntaxError`, so a badly escaped string shows up as an error instead of quietly
arriving changed.
"""

from __future__ import annotations

from collections.abc import Callable

OPERATORS = ("&&", "||", ";")
UNSUPPORTED = set("|&<>()`")


class ShellSyntaxError(ValueError):
    pass


def split_commands(line: str, lookup: Callable[[str], str]) -> list[tuple[str, list[str]]]:
    """[(connector, argv)]: connector is how a command joins the one before it (";" for the first)."""
    out: list[tuple[str, list[str]]] = []
    argv: list[str] = []
    connector = ";"
    word: list[str] = []
    in_word = False
    i, n = 0, len(line)

    def end_word() -> None:
        nonlocal word, in_word
        if in_word:
            argv.append("".join(word))
        word, in_word = [], False

    def expand(j: int) -> tuple[str, int]:
        """Expand the `$...` at line[j]; return the text and the index after it."""
        if j + 1 < n and line[j + 1] == "(":
            raise ShellSyntaxError("command substitution $(...) is not supported")
        if j + 1 < n and line[j + 1] == "{":
            k = line.find("}", j + 2)
            if k < 0:
                raise ShellSyntaxError("no closing quote")  # mksh reads `${` as an opening quote
            return lookup(line[j + 2:k]), k + 1
        if j + 1 < n and line[j + 1] in "?$#!@*0123456789-":
            return lookup(line[j + 1]), j + 2
        k = j + 1
        while k < n and (line[k].isalnum() or line[k] == "_"):
            k += 1
        if k == j + 1:
            return "$", j + 1
        return lookup(line[j + 1:k]), k

    while i < n:
        c = line[i]
        if c == "'":
            k = line.find("'", i + 1)
            if k < 0:
                raise ShellSyntaxError("no closing quote")
            word.append(line[i + 1:k])
            in_word = True
            i = k + 1
        elif c == '"':
            in_word = True
            i += 1
            while True:
                if i >= n:
                    raise ShellSyntaxError("no closing quote")
                c = line[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < n and line[i + 1] in '$`"\\\n':
                    if line[i + 1] != "\n":
                        word.append(line[i + 1])
                    i += 2
                elif c == "$":
                    text, i = expand(i)
                    word.append(text)
                elif c == "`":
                    raise ShellSyntaxError("command substitution `...` is not supported")
                else:
                    word.append(c)
                    i += 1
        elif c == "\\":
            if i + 1 < n and line[i + 1] != "\n":
                word.append(line[i + 1])
                in_word = True
            i += 2
        elif c in " \t\n":
            end_word()
            if c == "\n" and argv:  # after `&&` or `||` a newline continues the list, as in sh
                out.append((connector, argv))
                argv, connector = [], ";"
            i += 1
        elif c == "#" and not in_word:
            k = line.find("\n", i)
            i = n if k < 0 else k
        elif c == "$":
            text, i = expand(i)
            word.append(text)
            in_word = True
        elif c == "~" and (not in_word or line[i - 1] == "=") and (i + 1 == n or line[i + 1] in "/ \t\n;&|"):
            word.append(lookup("HOME"))
            in_word = True
            i += 1
        elif line.startswith(("&&", "||", ";;"), i) or c == ";":
            op = line[i:i + 2] if line.startswith(("&&", "||", ";;"), i) else ";"
            end_word()
            if not argv or op == ";;":  # `;;` ends a case branch, and this shell has no case
                raise ShellSyntaxError(f"syntax error: unexpected '{op}'")
            out.append((connector, argv))
            argv, connector = [], op
            i += len(op)
        elif c in UNSUPPORTED:
            raise ShellSyntaxError(f"'{c}' (pipes, redirection, subshells, background jobs) is not supported here")
        else:
            # Unquoted glob characters stay literal: nothing on the simulated device matches them, and sh
            # leaves a pattern that matches nothing unchanged.
            word.append(c)
            in_word = True
            i += 1
    end_word()
    if argv:
        out.append((connector, argv))
    elif connector != ";":
        raise ShellSyntaxError("syntax error: unexpected EOF")
    return out
