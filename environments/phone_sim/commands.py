"""The simulated device's shell commands: what `adb shell ...` runs against `PhoneState`.

Each command takes argv and returns (stdout, stderr, exit code) with output shaped like Android's own,
since drivers parse it. Nothing here touches the host: the "filesystem" is `state.files`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from environments.phone_sim import apps
from environments.phone_sim.inputcmd import cmd_input
from environments.phone_sim.shellparse import ShellSyntaxError, split_commands
from environments.phone_sim.state import ADB_KEYBOARD, APPS, LATIN_IME, SYSTEM_PACKAGES, PhoneState, app_by_package
from environments.phone_sim.system import SYSTEM_COMMANDS

Result = tuple[bytes, bytes, int]


def ok(text: str = "") -> Result:
    return text.encode("utf-8"), b"", 0


def fail(text: str, code: int = 1) -> Result:
    return b"", (text.rstrip("\n") + "\n").encode("utf-8"), code


def run_line(state: PhoneState, line: str) -> list[Result]:
    """Run one shell command line (`;`, `&&`, `||` joined): each command's result, in order. The line's exit
    status is the last one's."""
    last = 0
    env = {"?": "0", "HOME": "/", "PATH": "/system/bin", "USER": "shell"}
    try:
        commands = split_commands(line, lambda name: env.get(name, ""))
    except ShellSyntaxError as e:
        return [fail(f"/system/bin/sh: {e}", 1)]
    results = []
    # Expansion of `$?` must see each command's predecessor, so we re-split per command: cheap, lines are short.
    for index, (connector, _argv) in enumerate(commands):
        if (connector == "&&" and last != 0) or (connector == "||" and last == 0):
            continue
        env["?"] = str(last)
        argv = split_commands(line, lambda name: env.get(name, ""))[index][1]
        with state.lock:
            results.append(dispatch(state, argv))
        last = results[-1][2]
    return results or [ok()]


def dispatch(state: PhoneState, argv: list[str]) -> Result:
    name, args = argv[0], argv[1:]
    handler = COMMANDS.get(name)
    if handler is None:
        return fail(f"/system/bin/sh: {name}: inaccessible or not found", 127)
    try:
        return handler(state, args)
    except (IndexError, ValueError) as e:
        return fail(f"{name}: bad arguments {args!r} ({e})", 1)


# -- activities and packages ------------------------------------------------------------------------------


def _component(comp: str) -> tuple[str, str]:
    pkg, _, act = comp.partition("/")
    if act.startswith(pkg + "."):
        act = act[len(pkg):]
    return pkg, act


def cmd_am(state: PhoneState, args: list[str]) -> Result:
    sub = args[0]
    if sub == "start":
        comp = args[args.index("-n") + 1] if "-n" in args else None
        if comp is None:
            return fail("Error: only explicit intents (-n package/activity) are simulated")
        pkg, act = _component(comp)
        if f"{pkg}/{act}" not in apps.ACTIVITIES:
            # As runStartActivity does: the failure is a line on stderr, and the exit status is still 0.
            return (f"Starting: Intent {{ cmp={comp} }}\n".encode(),
                    f"Error type 3\nError: Activity class {{{comp}}} does not exist.\n".encode(), 0)
        state.start(pkg, act)
        return ok(f"Starting: Intent {{ cmp={comp} }}\n")
    if sub == "force-stop":
        if state.top.package == args[1]:
            state.home()
        return ok()
    if sub == "broadcast":
        action = args[args.index("-a") + 1] if "-a" in args else ""
        extras = {args[i + 1]: args[i + 2] for i, a in enumerate(args) if a == "--es" and i + 2 < len(args)}
        head = f"Broadcasting: Intent {{ act={action} flg=0x400000{' (has extras)' if extras else ''} }}\n"
        # ADBKeyboard only hears these while it is the active input method, exactly as on a phone.
        if state.adb_keyboard_installed and state.ime == ADB_KEYBOARD:
            if action == "ADB_INPUT_B64":
                state.type_text(base64.b64decode(extras.get("msg", "")).decode("utf-8"))
            elif action == "ADB_INPUT_TEXT":
                state.type_text(extras.get("msg", ""))
            elif action == "ADB_CLEAR_TEXT" and state.focused:
                state.top.fields[state.focused] = ""
                state.touch()
        return ok(head + "Broadcast completed: result=0\n")
    return fail(f"am: unknown command '{sub}'")


def packages(state: PhoneState) -> list[str]:
    pkgs = [a.package for a in APPS] + list(SYSTEM_PACKAGES)
    if state.adb_keyboard_installed:
        pkgs.append("com.android.adbkeyboard")
    return sorted(pkgs)


def cmd_pm(state: PhoneState, args: list[str]) -> Result:
    if args[:2] == ["list", "packages"]:
        flt = [a for a in args[2:] if not a.startswith("-")]
        return ok("".join(f"package:{p}\n" for p in packages(state) if not flt or flt[0] in p))
    if args[0] == "path":
        return ok(f"package:/system/app/{args[1]}/base.apk\n") if args[1] in packages(state) else fail("", 1)
    return fail(f"pm: unknown command {args[0]!r}")


def cmd_cmd(state: PhoneState, args: list[str]) -> Result:
    if args[:2] == ["package", "resolve-activity"]:
        pkg = [a for a in args[2:] if not a.startswith("-") and "." in a and "category" not in a
               and "intent.action" not in a]
        app = app_by_package(pkg[-1]) if pkg else None
        if app is None:
            return ok("No activity found\n")
        return ok("priority=0 preferredOrder=0 match=0x108000 specificIndex=-1 isDefault=true\n"
                  f"{app.component}\n")
    if args and args[0] == "package":
        return cmd_pm(state, args[1:])
    if args and args[0] == "input":  # what Android 12+'s /system/bin/input runs
        return cmd_input(state, args[1:])
    return fail(f"cmd: Can't find service: {args[0] if args else ''}", 20)


def cmd_monkey(state: PhoneState, args: list[str]) -> Result:
    pkg = args[args.index("-p") + 1] if "-p" in args else None
    app = app_by_package(pkg) if pkg else None
    if app is None:
        return b"  bash arg: -p\n** No activities found to run, monkey aborted.\n", b"", 252
    state.start(app.package, app.activity)
    return ok(f"  bash arg: -p\n  bash arg: {pkg}\nEvents injected: 1\n## Network stats: elapsed time=12ms\n")


# -- settings, content, ime ---------------------------------------------------------------------------------


def cmd_settings(state: PhoneState, args: list[str]) -> Result:
    if "--user" in args:  # `settings --user current get ...`: one user here, so drop the option and its value
        i = args.index("--user")
        args = args[:i] + args[i + 2:]
    sub, ns = args[0], args[1]
    if ns not in state.settings:
        return fail(f"Invalid namespace '{ns}'")
    table = state.settings[ns]
    if sub == "get":
        return ok(table.get(args[2], "null") + "\n")
    if sub == "put":
        table[args[2]] = args[3]
        if (ns, args[2]) == ("system", "user_rotation"):
            state.rotation = int(args[3]) % 4
        state.touch()
        return ok()
    if sub == "delete":
        return ok(f"Deleted {int(table.pop(args[2], None) is not None)} rows\n")
    if sub == "list":
        return ok("".join(f"{k}={v}\n" for k, v in sorted(table.items())))
    return fail(f"settings: unknown command {sub!r}")


def content_rows(state: PhoneState, uri: str) -> list[dict[str, str]] | None:
    if uri.rstrip("/") in ("content://contacts/phones", "content://com.android.contacts/data/phones"):
        return [{"_id": str(c.id), "display_name": c.name, "number": c.number, "type": "2"}
                for c in state.contacts]
    if uri.rstrip("/") == "content://org.simphone.expenses/expenses":
        return [{"_id": str(e.id), "name": e.name, "amount": e.amount} for e in state.expenses]
    if uri.rstrip("/") == "content://org.simphone.notes/notes":
        return [{"_id": str(i + 1), "path": p, "text": t} for i, (p, t) in enumerate(state.notes())]
    for ns in state.settings:
        if uri.rstrip("/") == f"content://settings/{ns}":
            return [{"name": k, "value": v} for k, v in sorted(state.settings[ns].items())]
    return None


def cmd_content(state: PhoneState, args: list[str]) -> Result:
    if not args or args[0] != "query" or "--uri" not in args:
        return fail("usage: content query --uri <URI> [--projection <PROJECTION>]")
    uri = args[args.index("--uri") + 1]
    rows = content_rows(state, uri)
    if rows is None:
        return fail(f"Error while accessing provider:{uri.split('/')[2]}\njava.lang.IllegalArgumentException: "
                    f"Unknown URI {uri}")
    if "--projection" in args:
        cols = args[args.index("--projection") + 1].split(":")
        rows = [{c: r.get(c, "NULL") for c in cols} for r in rows]
    if not rows:
        return ok("No result found.\n")
    return ok("".join(f"Row: {i} " + ", ".join(f"{k}={v}" for k, v in r.items()) + "\n" for i, r in enumerate(rows)))


def cmd_ime(state: PhoneState, args: list[str]) -> Result:
    enabled = state.settings["secure"]["enabled_input_methods"].split(":")
    available = [LATIN_IME] + ([ADB_KEYBOARD] if state.adb_keyboard_installed else [])
    if args[0] == "list":
        shown = available if "-a" in args else [i for i in enabled if i in available]
        return ok("".join(f"{i}\n" for i in shown))
    if args[0] in ("enable", "set"):
        ime = args[1]
        if ime not in available:
            return fail(f"Unknown input method {ime} cannot be {'enabled' if args[0] == 'enable' else 'selected'}")
        if ime not in enabled:
            state.settings["secure"]["enabled_input_methods"] = ":".join(enabled + [ime])
        if args[0] == "set":
            state.settings["secure"]["default_input_method"] = ime
            return ok(f"Input method {ime} selected for user #0\n")
        return ok(f"Input method {ime}: now enabled for user #0\n")
    return fail(f"ime: unknown command {args[0]!r}")


COMMANDS: dict[str, Callable[[PhoneState, list[str]], Result]] = {
    "input": cmd_input, "am": cmd_am, "pm": cmd_pm, "cmd": cmd_cmd, "monkey": cmd_monkey,
    "settings": cmd_settings, "content": cmd_content, "ime": cmd_ime, **SYSTEM_COMMANDS,
}
