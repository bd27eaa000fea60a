"""What an Android shell command gave back, and whether the device refused it. No adb here, so code that only
reads results (evals) needs no adb client installed."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ShellResult:
    output: str  # stdout and stderr as they came, trailing whitespace stripped
    stderr: str  # stderr alone; empty without shell v2, where it is mixed into output
    status: int


def refused(result: ShellResult) -> bool:
    """Whether the device refused a command, read as Android tells it (tests/data/android_reference.md): a
    nonzero exit status, or a line starting `Error`, which is all `am start` (any version) and `input` (Android
    11 and older, whose failures exit 0) give. Other text (linker warnings, a package called "mirror") is no
    failure."""
    return result.status != 0 or any(line.startswith("Error") for line in result.output.splitlines())


# The window with input focus in `dumpsys window` (package/activity), or failing that the focused app's.
_FOCUS = (re.compile(r"mCurrentFocus=Window\{\S+ \S+ ([\w.]+)/([\w.$]+)\}"), re.compile(r"mFocusedApp=.*? ([\w.]+)/([\w.$]+)"))


def foreground_app(dumpsys_window: str) -> tuple[str, str] | None:
    """The package and activity in front (the activity written out in full), read from `dumpsys window`."""
    m = _FOCUS[0].search(dumpsys_window) or _FOCUS[1].search(dumpsys_window)
    if not m:
        return None
    pkg, act = m.groups()
    return pkg, pkg + act if act.startswith(".") else act
