"""Simulated system commands: screencap, wm, dumpsys, getprop, uiautomator and a few coreutils."""

from __future__ import annotations

from collections.abc import Callable

from environments.phone_sim.render import hierarchy_xml, screencap_png, screencap_raw
from environments.phone_sim.state import PhoneState

Result = tuple[bytes, bytes, int]
PROPS: dict[str, str] = {
    "ro.product.model": "SimPhone", "ro.product.name": "simphone", "ro.product.device": "simphone",
    "ro.product.manufacturer": "Simulated", "ro.build.version.release": "14", "ro.build.version.sdk": "34",
    "ro.serialno": "SIMPHONE0001", "ro.product.cpu.abi": "x86_64", "sys.boot_completed": "1",
}


def _ok(text: str | bytes = "") -> Result:
    return (text.encode("utf-8") if isinstance(text, str) else text), b"", 0


def _fail(text: str, code: int = 1) -> Result:
    return b"", (text.rstrip("\n") + "\n").encode("utf-8"), code


def cmd_screencap(state: PhoneState, args: list[str]) -> Result:
    png = "-p" in args
    paths = [a for a in args if not a.startswith("-")]
    data = screencap_png(state) if png or (paths and paths[0].endswith(".png")) else screencap_raw(state)
    if paths:
        state.files[paths[0]] = data
        return _ok()
    return _ok(data)


def cmd_wm(state: PhoneState, args: list[str]) -> Result:
    sub, rest = args[0], args[1:]
    if sub == "size":
        if rest == ["reset"]:
            state.override_size = None
        elif rest:
            w, h = (int(v) for v in rest[0].lower().split("x"))
            state.override_size = (w, h)
        else:
            out = f"Physical size: {state.width}x{state.height}\n"
            if state.override_size:
                out += f"Override size: {state.override_size[0]}x{state.override_size[1]}\n"
            return _ok(out)
        state.touch()
        return _ok()
    if sub == "density":
        if rest == ["reset"]:
            state.override_density = None
        elif rest:
            state.override_density = int(rest[0])
        else:
            out = f"Physical density: {state.density}\n"
            if state.override_density:
                out += f"Override density: {state.override_density}\n"
            return _ok(out)
        return _ok()
    return _fail(f"Error: unknown command '{sub}'")


def cmd_dumpsys(state: PhoneState, args: list[str]) -> Result:
    what = args[0] if args else ""
    top = state.top
    if what == "window":
        win = f"Window{{1f2e3d4 u0 {top.package}/{top.package}{top.activity}}}"
        return _ok("WINDOW MANAGER WINDOWS (dumpsys window windows)\n"
                   f"  mCurrentFocus={win}\n"
                   f"  mFocusedApp=ActivityRecord{{7a8b9c u0 {top.component} t{len(state.stack)}}}\n"
                   f"  mDisplayRotation={state.rotation}\n")
    if what == "input":
        return _ok(f"INPUT MANAGER (dumpsys input)\n\nInput Reader State:\n  Device 3: sim-touchscreen\n"
                   f"    Viewport INTERNAL: displayId=0, orientation={state.rotation}\n"
                   f"      SurfaceOrientation: {state.rotation}\n")
    if what == "display":
        w, h = state.size
        return _ok(f"DISPLAY MANAGER (dumpsys display)\n  mCurrentOrientation={state.rotation}\n"
                   f"  mDefaultViewport=DisplayViewport{{orientation={state.rotation}, deviceWidth={w}, "
                   f"deviceHeight={h}}}\n")
    return _ok(f"Can't find service: {what}\n")


def cmd_getprop(state: PhoneState, args: list[str]) -> Result:
    if args:
        return _ok(PROPS.get(args[0], "") + "\n")
    return _ok("".join(f"[{k}]: [{v}]\n" for k, v in sorted(PROPS.items())))


def cmd_uiautomator(state: PhoneState, args: list[str]) -> Result:
    if not args or args[0] != "dump":
        return _fail("Usage: uiautomator dump [--compressed] [FILE]")
    paths = [a for a in args[1:] if not a.startswith("--")]
    path = paths[0] if paths else "/sdcard/window_dump.xml"
    xml = hierarchy_xml(state)
    if path == "/dev/tty":
        return _ok(xml + f"UI hierchary dumped to: {path}\n")
    state.files[path] = xml.encode("utf-8")
    return _ok(f"UI hierchary dumped to: {path}\n")


def cmd_cat(state: PhoneState, args: list[str]) -> Result:
    out = bytearray()
    for p in args:
        if p not in state.files:
            return bytes(out), f"cat: {p}: No such file or directory\n".encode(), 1
        out += state.files[p]
    return bytes(out), b"", 0


def cmd_ls(state: PhoneState, args: list[str]) -> Result:
    paths = [a for a in args if not a.startswith("-")] or ["/sdcard"]
    names = []
    for p in paths:
        if p in state.files:
            names.append(p)
            continue
        prefix = p.rstrip("/") + "/"
        kids = sorted({f[len(prefix):].split("/")[0] for f in state.files if f.startswith(prefix)})
        if not kids:
            return _fail(f"ls: {p}: No such file or directory")
        names += kids
    return _ok("".join(f"{n}\n" for n in names))


def cmd_rm(state: PhoneState, args: list[str]) -> Result:
    for p in (a for a in args if not a.startswith("-")):
        if state.files.pop(p, None) is None and "-f" not in args:
            return _fail(f"rm: {p}: No such file or directory")
    state.touch()
    return _ok()


def cmd_echo(state: PhoneState, args: list[str]) -> Result:
    if args[:1] == ["-n"]:
        return _ok(" ".join(args[1:]))
    return _ok(" ".join(args) + "\n")


SYSTEM_COMMANDS: dict[str, Callable[[PhoneState, list[str]], Result]] = {
    "screencap": cmd_screencap, "wm": cmd_wm, "dumpsys": cmd_dumpsys, "getprop": cmd_getprop,
    "uiautomator": cmd_uiautomator, "cat": cmd_cat, "ls": cmd_ls, "rm": cmd_rm, "echo": cmd_echo,
    "true": lambda s, a: _ok(), "false": lambda s, a: (b"", b"", 1), "sleep": lambda s, a: _ok(),
    "mkdir": lambda s, a: _ok(), "whoami": lambda s, a: _ok("shell\n"), "id": lambda s, a: _ok("uid=2000(shell)\n"),
}
