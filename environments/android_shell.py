"""What an Android shell command gave back, and whether the device refused it. No adb here, so code that only
reads results (evals) needs no adb client installed."""

from __future__ import annotations

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
