"""A command run on a pseudo-terminal, as a person runs it, and the screen its output leaves."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Sequence
from fcntl import ioctl
from pathlib import Path

COLUMNS = 200
_TOKENS = re.compile(r"(\x1b\[[0-9;?]*[A-Za-z]|\r|\n)")


def screen(output: str) -> list[str]:
    """The lines a terminal shows once `output` is written to it: as much of a terminal as rich uses (carriage
    return, erase line, cursor up; colours and cursor visibility are dropped)."""
    lines: list[list[str]] = [[]]
    row = col = 0
    for token in _TOKENS.split(output):
        if not token:
            continue
        if token == "\r":
            col = 0
        elif token == "\n":
            row, col = row + 1, 0
            if row == len(lines):
                lines.append([])
        elif token.startswith("\x1b["):
            arg, command = token[2:-1], token[-1]
            if command == "K":
                lines[row] = [] if arg == "2" else lines[row][:col]
            elif command == "A":
                row = max(0, row - int(arg or 1))
        else:
            line = lines[row]
            line.extend(" " * (col - len(line)))
            line[col:col + len(token)] = token
            col += len(token)
    return ["".join(line).rstrip() for line in lines]


def run_in_terminal(argv: Sequence[str], cwd: Path, env: dict[str, str], interrupt_when: Callable[[str, int], bool],
                    timeout: float = 240) -> tuple[int, str]:
    """Run `argv` with a terminal as its stdin, stdout and stderr, in a process group of its own as a shell
    starts it; once `interrupt_when(output so far, its pid)`, send SIGINT to that whole group, as Ctrl-C in a
    terminal does. Returns the exit code and everything written to the terminal."""
    master, slave = pty.openpty()
    ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, COLUMNS, 0, 0))
    proc = subprocess.Popen(list(argv), cwd=cwd, env={**env, "TERM": "xterm-256color", "COLUMNS": str(COLUMNS)},
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    out, sent, deadline = b"", False, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the terminal's last writer closed it
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
            if not sent and interrupt_when(out.decode(errors="replace"), proc.pid):
                os.killpg(proc.pid, signal.SIGINT)
                sent = True
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)
    return code, out.decode(errors="replace")


def helpers(pid: int) -> dict[int, tuple[str, int]]:
    """The processes started under `pid`, children of children included: {pid: (name, session id)}."""
    parents: dict[int, tuple[int, str]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        name, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        parents[int(stat.parent.name)] = (int(rest[1]), name)
    found: dict[int, tuple[str, int]] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, name) in parents.items():
            if ppid == parent and child not in found:
                try:
                    found[child] = (name, os.getsid(child))
                except ProcessLookupError:
                    continue
                frontier.append(child)
    return found
