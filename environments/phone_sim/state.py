"""Everything the simulated phone knows: settings, app data, files, the activity stack, the IME.

One `PhoneState` per simulated device. Every shell command and every tap runs under `state.lock`, so
concurrent adb streams see one consistent phone. `version` grows on each change so the renderer can
reuse a frame while nothing changed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

LAUNCHER = "com.android.launcher3/.Launcher"
ADB_KEYBOARD = "com.android.adbkeyboard/.AdbIME"
LATIN_IME = "com.android.inputmethod.latin/.LatinIME"
NOTES_DIR = "/sdcard/Notes"


@dataclass(frozen=True)
class App:
    label: str
    package: str
    activity: str  # short form, ".Main"
    colour: tuple[int, int, int]

    @property
    def component(self) -> str:
        return f"{self.package}/{self.activity}"


# Launchable apps, in launcher order. Package names of the stock apps match AOSP's.
APPS: tuple[App, ...] = (
    App("Settings", "com.android.settings", ".Settings", (96, 125, 139)),
    App("Contacts", "com.android.contacts", ".activities.PeopleActivity", (33, 150, 243)),
    App("Notes", "org.simphone.notes", ".NotesActivity", (255, 193, 7)),
    App("Expenses", "org.simphone.expenses", ".ExpensesActivity", (76, 175, 80)),
    App("Clock", "com.android.deskclock", ".DeskClock", (63, 81, 181)),
)
# Installed but not launchable: what `pm list packages` shows besides the apps.
SYSTEM_PACKAGES = ("android", "com.android.systemui", "com.android.launcher3", "com.android.inputmethod.latin",
                   "com.android.providers.contacts", "com.android.shell")


@dataclass
class Contact:
    id: int
    name: str
    number: str


@dataclass
class Expense:
    id: int
    name: str
    amount: str


@dataclass
class Screen:
    """One entry of the activity stack: the app's package, the activity, and form fields it holds."""

    package: str
    activity: str
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def component(self) -> str:
        return f"{self.package}/{self.activity}"


def app_by_package(package: str) -> App | None:
    return next((a for a in APPS if a.package == package), None)


@dataclass
class PhoneState:
    width: int = 1080
    height: int = 2400
    density: int = 420
    override_size: tuple[int, int] | None = None
    override_density: int | None = None
    rotation: int = 0
    clock: str = "12:30"  # fixed, so screenshots are deterministic
    secure_window: bool = False  # a FLAG_SECURE app in front: screencap gives a black frame
    adb_keyboard_installed: bool = True
    settings: dict[str, dict[str, str]] = field(default_factory=lambda: {
        "global": {"wifi_on": "1", "bluetooth_on": "0", "airplane_mode_on": "0", "device_name": "SimPhone"},
        "system": {"screen_brightness": "128", "screen_brightness_mode": "0", "user_rotation": "0"},
        "secure": {"default_input_method": LATIN_IME,
                   "enabled_input_methods": f"{LATIN_IME}:{ADB_KEYBOARD}"},
    })
    contacts: list[Contact] = field(default_factory=lambda: [
        Contact(1, "Alice Martin", "+1 555-0101"), Contact(2, "Bob Chen", "+1 555-0102"),
    ])
    expenses: list[Expense] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=lambda: {
        f"{NOTES_DIR}/note-1.txt": b"Shopping\nmilk, eggs", "/sdcard/Download/.keep": b"",
    })
    stack: list[Screen] = field(default_factory=lambda: [Screen("com.android.launcher3", ".Launcher")])
    focused: str | None = None  # resource id of the focused text field on the top screen
    pointer: tuple[int, int] | None = None  # where `input motionevent DOWN` put a finger down, until UP
    recents: list[str] = field(default_factory=list)  # packages, most recent last
    log: list[str] = field(default_factory=list)  # input events, for tests and debugging
    version: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # -- derived --------------------------------------------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        """The display size apps and `input` use: the override if set, turned with the rotation."""
        w, h = self.override_size or (self.width, self.height)
        return (h, w) if self.rotation % 2 else (w, h)

    @property
    def top(self) -> Screen:
        return self.stack[-1]

    @property
    def ime(self) -> str:
        return self.settings["secure"]["default_input_method"]

    def touch(self) -> None:
        self.version += 1

    # -- navigation -----------------------------------------------------------------------------------
    def start(self, package: str, activity: str, new_task: bool = True) -> None:
        if new_task:
            self.stack = [self.stack[0]]
        self.stack.append(Screen(package, activity))
        if package in self.recents:
            self.recents.remove(package)
        self.recents.append(package)
        self.focused = None
        self.touch()

    def home(self) -> None:
        self.stack = [self.stack[0]]
        self.focused = None
        self.touch()

    def back(self) -> None:
        if self.focused is not None:  # the first Back hides the keyboard, as on a phone
            self.focused = None
        elif len(self.stack) > 1:
            self.stack.pop()
        self.touch()

    # -- data -----------------------------------------------------------------------------------------
    def notes(self) -> list[tuple[str, str]]:
        """(path, text) of every note file, in name order."""
        prefix = NOTES_DIR + "/"
        return sorted((p, b.decode("utf-8", "replace")) for p, b in self.files.items()
                      if p.startswith(prefix) and p.endswith(".txt"))

    def add_note(self, text: str) -> str:
        n = 1
        while f"{NOTES_DIR}/note-{n}.txt" in self.files:
            n += 1
        path = f"{NOTES_DIR}/note-{n}.txt"
        self.files[path] = text.encode("utf-8")
        self.touch()
        return path

    def add_contact(self, name: str, number: str) -> Contact:
        c = Contact(max((c.id for c in self.contacts), default=0) + 1, name, number)
        self.contacts.append(c)
        self.touch()
        return c

    def add_expense(self, name: str, amount: str) -> Expense:
        e = Expense(max((e.id for e in self.expenses), default=0) + 1, name, amount)
        self.expenses.append(e)
        self.touch()
        return e

    def type_text(self, text: str) -> bool:
        """Commit text to the focused field, as an IME would. False when no field has focus."""
        if self.focused is None:
            self.log.append(f"text dropped (no focused field): {text!r}")
            return False
        fields = self.top.fields
        fields[self.focused] = fields.get(self.focused, "") + text
        self.touch()
        return True
