"""The phone's screens as widget lists, and what taps, long presses and swipes on them do.

Each screen is built fresh from `PhoneState` (a widget list with bounds in display pixels), so the
renderer, hit-testing and `uiautomator dump` always agree about what is where.
"""

from __future__ import annotations

from dataclasses import dataclass

from environments.phone_sim.state import APPS, PhoneState, app_by_package

RECENTS = ("com.android.systemui", ".recents.RecentsActivity")
Bounds = tuple[int, int, int, int]


@dataclass
class Widget:
    kind: str  # text, button, switch, field, icon, item, slider, nav
    rid: str
    text: str
    bounds: Bounds
    action: str | None = None  # what a tap does, "verb:argument"
    long_action: str | None = None
    checked: bool | None = None
    hint: str = ""
    multiline: bool = False
    value: float = 0.0  # slider position, 0..1
    desc: str = ""

    def contains(self, x: int, y: int) -> bool:
        l, t, r, b = self.bounds
        return l <= x < r and t <= y < b

    @property
    def android_class(self) -> str:
        return {"text": "android.widget.TextView", "button": "android.widget.Button",
                "switch": "android.widget.Switch", "field": "android.widget.EditText",
                "icon": "android.widget.TextView", "item": "android.widget.TextView",
                "slider": "android.widget.SeekBar", "nav": "android.widget.ImageView"}[self.kind]


def layout_units(state: PhoneState) -> tuple[int, int, float]:
    w, h = state.size
    return w, h, w / 1080


def build(state: PhoneState) -> list[Widget]:
    """Widgets of the top screen, the title bar and the navigation bar, in drawing order."""
    w, h, s = layout_units(state)
    top = state.top
    out: list[Widget] = []
    if top.package != "com.android.launcher3":
        label = app_by_package(top.package).label if app_by_package(top.package) else "Recent apps"
        out.append(Widget("text", "android:id/title", _title(top.activity, label), (0, int(80 * s), w, int(230 * s))))
    out += _SCREENS.get((top.package, top.activity), _empty)(state, w, h, s)
    nav_t = h - int(130 * s)
    third = w // 3
    out += [
        Widget("nav", "com.android.systemui:id/back", "", (0, nav_t, third, h), "key:back", desc="Back"),
        Widget("nav", "com.android.systemui:id/home", "", (third, nav_t, 2 * third, h), "key:home", desc="Home"),
        Widget("nav", "com.android.systemui:id/recent_apps", "", (2 * third, nav_t, w, h), "key:recents",
               desc="Overview"),
    ]
    return out


def _title(activity: str, label: str) -> str:
    return {".activities.ContactEditorActivity": "New contact", ".EditorActivity": "New note",
            ".AddExpenseActivity": "New expense"}.get(activity, label)


def _rows(s: float, n: int, start: float = 260, height: float = 170) -> list[tuple[int, int]]:
    return [(int((start + i * height) * s), int((start + (i + 1) * height) * s) - int(10 * s)) for i in range(n)]


def _launcher(state: PhoneState, w: int, h: int, s: float) -> list[Widget]:
    out = []
    cell = w // 4
    for i, app in enumerate(APPS):
        col, row = i % 4, i // 4
        t = int((400 + row * 300) * s)
        out.append(Widget("icon", "com.android.launcher3:id/icon", app.label,
                          (col * cell, t, (col + 1) * cell, t + int(260 * s)), f"open:{app.package}",
                          desc=app.label))
    return out


def _settings(state: PhoneState, w: int, h: int, s: float) -> list[Widget]:
    g, sysset = state.settings["global"], state.settings["system"]
    (r1, r2, r3, r4) = _rows(s, 4)
    pad = int(48 * s)
    brightness = int(sysset.get("screen_brightness", "128")) / 255
    return [
        Widget("switch", "com.android.settings:id/wifi_switch", "Wi-Fi", (0, r1[0], w, r1[1]), "toggle:wifi_on",
               checked=g.get("wifi_on") == "1"),
        Widget("switch", "com.android.settings:id/bluetooth_switch", "Bluetooth", (0, r2[0], w, r2[1]),
               "toggle:bluetooth_on", checked=g.get("bluetooth_on") == "1"),
        Widget("switch", "com.android.settings:id/airplane_switch", "Airplane mode", (0, r3[0], w, r3[1]),
               "toggle:airplane_mode_on", checked=g.get("airplane_mode_on") == "1"),
        Widget("slider", "com.android.settings:id/brightness", "Brightness", (pad, r4[0], w - pad, r4[1]),
               "slider:screen_brightness", value=brightness),
    ]


def _list_screen(items: list[tuple[str, str | None]], rid: str, add_label: str, add_rid: str, add_activity: str,
                 s: float, w: int, h: int, empty: str) -> list[Widget]:
    out = [Widget("item", rid, text, (0, t, w, b), None, long_action) for (text, long_action), (t, b)
           in zip(items, _rows(s, len(items)), strict=True)]
    if not items:
        out.append(Widget("text", "android:id/empty", empty, (0, int(260 * s), w, int(420 * s))))
    bw, bh = int(420 * s), int(150 * s)
    bottom = h - int(180 * s)
    out.append(Widget("button", add_rid, add_label, (w - bw - int(48 * s), bottom - bh, w - int(48 * s), bottom),
                      f"start:{add_activity}"))
    return out


def _contacts(state: PhoneState, w: int, h: int, s: float) -> list[Widget]:
    items = [(f"{c.name}  {c.number}", None) for c in sorted(state.contacts, key=lambda c: c.name.lower())]
    return _list_screen(items, "com.android.contacts:id/contact_name", "Add contact",
                        "com.android.contacts:id/floating_action_button", ".activities.ContactEditorActivity",
                        s, w, h, "No contacts")


def _notes(state: PhoneState, w: int, h: int, s: float) -> list[Widget]:
    items = [(text.split("\n", 1)[0] or "(empty)", f"delete_note:{path}") for path, text in state.notes()]
    return _list_screen(items, "org.simphone.notes:id/note_title", "New note",
                        "org.simphone.notes:id/new_note", ".EditorActivity", s, w, h, "No notes")


def _expenses(state: PhoneState, w: int, h: int, s: float) -> list[Widget]:
    items = [(f"{e.name}  {e.amount}", None) for e in state.expenses]
    return _list_screen(items, "org.simphone.expenses:id/expense", "Add expense",
                        "org.simphone.expenses:id/add", ".AddExpenseActivity", s, w, h, "No expenses yet")


def _form(state: PhoneState, s: float, w: int, h: int, fields: list[tuple[str, str, bool]],
          save_rid: str, save_action: str) -> list[Widget]:
    out = []
    t = int(280 * s)
    pad = int(48 * s)
    for rid, hint, multiline in fields:
        fh = int((600 if multiline else 150) * s)
        out.append(Widget("field", rid, state.top.fields.get(rid, ""), (pad, t, w - pad, t + fh), f"focus:{rid}",
                          hint=hint, multiline=multiline))
        t += fh + int(40 * s)
    out.append(Widget("button", save_rid, "Save", (pad, t, pad + int(360 * s), t + int(150 * s)), save_action))
    return out


def _contact_editor(state: PhoneState, w: int, h: int, s: float) -> list[Widget]:
    return _form(state, s, w, h, [("com.android.contacts:id/name", "Name", False),
                                  ("com.android.contacts:id/phone", "Phone", False)],
                 "com.android.contacts:id/save", "save:contact")


def _note_editor(state: PhoneState, w: int, h: int, s: float) -> list[Widget]:
    return _form(state, s, w, h, [("org.simphone.notes:id/note_body", "Write a note", True)],
                 "org.simphone.notes:id/save", "save:note")


def _expense_editor(state: PhoneState, w: int, h: int, s: float) -> list[Widget]:
    return _form(state, s, w, h, [("org.simphone.expenses:id/name", "What for", False),
                                  ("org.simphone.expenses:id/amount", "Amount", False)],
                 "org.simphone.expenses:id/save", "save:expense")


def _clock(state: PhoneState, w: int, h: int, s: float) -> list[Widget]:
    return [Widget("text", "com.android.deskclock:id/digital_clock", state.clock, (0, int(500 * s), w, int(800 * s)))]


def _recents(state: PhoneState, w: int, h: int, s: float) -> list[Widget]:
    apps = [a for p in reversed(state.recents) if (a := app_by_package(p))]
    return [Widget("item", "com.android.systemui:id/task", a.label, (0, t, w, b), f"open:{a.package}")
            for a, (t, b) in zip(apps, _rows(s, len(apps), height=220), strict=True)] or [
        Widget("text", "android:id/empty", "No recent items", (0, int(260 * s), w, int(420 * s)))]


def _empty(state: PhoneState, w: int, h: int, s: float) -> list[Widget]:
    return []


_SCREENS = {
    ("com.android.launcher3", ".Launcher"): _launcher,
    ("com.android.settings", ".Settings"): _settings,
    ("com.android.contacts", ".activities.PeopleActivity"): _contacts,
    ("com.android.contacts", ".activities.ContactEditorActivity"): _contact_editor,
    ("org.simphone.notes", ".NotesActivity"): _notes,
    ("org.simphone.notes", ".EditorActivity"): _note_editor,
    ("org.simphone.expenses", ".ExpensesActivity"): _expenses,
    ("org.simphone.expenses", ".AddExpenseActivity"): _expense_editor,
    ("com.android.deskclock", ".DeskClock"): _clock,
    RECENTS: _recents,
}
ACTIVITIES = {f"{p}/{a}" for p, a in _SCREENS}


# -- gestures -------------------------------------------------------------------------------------------


def hit(state: PhoneState, x: int, y: int) -> Widget | None:
    for widget in reversed(build(state)):
        if widget.contains(x, y) and (widget.action or widget.long_action):
            return widget
    return None


def tap(state: PhoneState, x: int, y: int) -> None:
    widget = hit(state, x, y)
    state.log.append(f"tap {x} {y} -> {widget.rid if widget else 'nothing'}")
    if widget is None:
        if state.focused is not None:  # tapping outside a field drops focus, as on a phone
            state.focused = None
            state.touch()
        return
    if widget.action:
        run(state, widget.action, widget, x)


def long_press(state: PhoneState, x: int, y: int) -> None:
    widget = hit(state, x, y)
    state.log.append(f"long_press {x} {y} -> {widget.rid if widget else 'nothing'}")
    if widget is not None:
        if widget.long_action:
            run(state, widget.long_action, widget, x)
        elif widget.action:
            run(state, widget.action, widget, x)


def swipe(state: PhoneState, x1: int, y1: int, x2: int, y2: int) -> None:
    widget = hit(state, x1, y1)
    state.log.append(f"swipe {x1} {y1} {x2} {y2} -> {widget.rid if widget else 'nothing'}")
    if widget is not None and widget.kind == "slider" and widget.action:
        run(state, widget.action, widget, x2)


def run(state: PhoneState, action: str, widget: Widget, x: int) -> None:
    verb, _, arg = action.partition(":")
    top = state.top
    if verb == "open":
        app = app_by_package(arg)
        if app:
            state.start(app.package, app.activity)
    elif verb == "start":
        state.start(top.package, arg, new_task=False)
    elif verb == "key":
        {"back": state.back, "home": state.home,
         "recents": lambda: state.start(*RECENTS)}[arg]()
    elif verb == "toggle":
        g = state.settings["global"]
        g[arg] = "0" if g.get(arg) == "1" else "1"
    elif verb == "slider":
        l, _, r, _ = widget.bounds
        frac = min(max((x - l) / max(r - l - 1, 1), 0.0), 1.0)
        state.settings["system"][arg] = str(round(frac * 255))
    elif verb == "focus":
        state.focused = arg
    elif verb == "delete_note":
        state.files.pop(arg, None)
    elif verb == "save":
        f = top.fields
        if arg == "contact" and f.get("com.android.contacts:id/name", "").strip():
            state.add_contact(f["com.android.contacts:id/name"], f.get("com.android.contacts:id/phone", ""))
        elif arg == "note" and f.get("org.simphone.notes:id/note_body", ""):
            state.add_note(f["org.simphone.notes:id/note_body"])
        elif arg == "expense" and f.get("org.simphone.expenses:id/name", "").strip():
            state.add_expense(f["org.simphone.expenses:id/name"], f.get("org.simphone.expenses:id/amount", ""))
        else:
            state.log.append(f"save {arg}: required field empty, nothing saved")
            return
        state.focused = None  # saving closes the keyboard and the editor
        state.back()
    state.touch()
