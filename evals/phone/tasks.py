"""Phone task templates: settings, contacts, notes, expenses and app launching, checked over adb.

Setup and scoring use standard Android commands only (`settings`, `content query`, `ls`/`cat`/`rm` on
/sdcard, `dumpsys window`). The `phone` suite runs them all on the simulated phone, which each worker
starts for itself; `android` holds the templates that make sense on any real device or emulator.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from environments.base import Environment
from evals.phone.base import TOGGLES, PhoneTask, State, bit, partial_credit, random_name, random_number
from evals.phone.device import Adb, digits
from evals.phone.notes import (
    AddExpense, AddTwoExpenses, ContactNumberToNote, ContactThenNote, CreateNote, CreateTwoNotes, DeleteAllNotes,
    DeleteNote, WifiOffThenNote,
)
from evals.registry import Suite
from evals.task import Task, TaskParams, TaskSetupError, seeded_rng

# -- settings ---------------------------------------------------------------------------------------------


class ToggleParams(TaskParams):
    setting: Literal["Wi-Fi", "Bluetooth", "airplane mode"]
    state: State


class _Toggle(PhoneTask):
    apps = ("Settings",)
    Params = ToggleParams
    template = "Turn {state} {setting}."
    standard = True
    SETTING: ClassVar[str]

    @classmethod
    def generate_params(cls, seed: int) -> ToggleParams:
        return ToggleParams(setting=cls.SETTING, state=seeded_rng(seed, cls.name).choice(("on", "off")))

    def setup(self, env: Environment) -> None:
        ns, key = TOGGLES[self.params.setting]
        Adb(env).put_setting(ns, key, "0" if self.params.state == "on" else "1")

    def score(self, env: Environment) -> float:
        ns, key = TOGGLES[self.params.setting]
        return float(Adb(env).setting(ns, key) == bit(self.params.state))


class ToggleWifi(_Toggle):
    name = "toggle-wifi"
    SETTING = "Wi-Fi"


class ToggleBluetooth(_Toggle):
    name = "toggle-bluetooth"
    SETTING = "Bluetooth"


class ToggleAirplane(_Toggle):
    name = "toggle-airplane-mode"
    SETTING = "airplane mode"


class TwoTogglesParams(TaskParams):
    first: Literal["Wi-Fi", "Bluetooth", "airplane mode"]
    first_state: State
    second: Literal["Wi-Fi", "Bluetooth", "airplane mode"]
    second_state: State


class TwoToggles(PhoneTask):
    name = "two-toggles"
    apps = ("Settings",)
    difficulty = "medium"
    max_steps = 12
    Params = TwoTogglesParams
    template = "Turn {first_state} {first} and turn {second_state} {second}."
    standard = True

    @classmethod
    def generate_params(cls, seed: int) -> TwoTogglesParams:
        rng = seeded_rng(seed, cls.name)
        a, b = rng.sample(sorted(TOGGLES), 2)
        return TwoTogglesParams(first=a, first_state=rng.choice(("on", "off")), second=b,
                                second_state=rng.choice(("on", "off")))

    def _targets(self) -> list[tuple[str, str]]:
        p: Any = self.params
        return [(p.first, p.first_state), (p.second, p.second_state)]

    def setup(self, env: Environment) -> None:
        adb = Adb(env)
        for setting, state in self._targets():
            adb.put_setting(*TOGGLES[setting], "0" if state == "on" else "1")

    def score(self, env: Environment) -> float:
        adb = Adb(env)
        done = [adb.setting(*TOGGLES[s]) == bit(st) for s, st in self._targets()]
        return partial_credit(done)


class AllOff(PhoneTask):
    name = "all-radios-off"
    apps = ("Settings",)
    difficulty = "medium"
    max_steps = 12
    template = "Turn off Wi-Fi, Bluetooth and airplane mode."
    standard = True

    def setup(self, env: Environment) -> None:
        adb = Adb(env)
        for ns, key in TOGGLES.values():
            adb.put_setting(ns, key, "1")

    def score(self, env: Environment) -> float:
        adb = Adb(env)
        return float(all(adb.setting(ns, key) == "0" for ns, key in TOGGLES.values()))


class BrightnessParams(TaskParams):
    percent: int = Field(ge=0, le=100)


class _Brightness(PhoneTask):
    apps = ("Settings",)
    Params = BrightnessParams
    standard = True
    TOLERANCE: ClassVar[int] = 10  # percentage points either way

    def setup(self, env: Environment) -> None:
        adb = Adb(env)
        adb.put_setting("system", "screen_brightness_mode", "0")  # manual, so the level stays where it is set
        start = 128 if self.params.percent in (0, 100) else (230 if self.params.percent < 50 else 25)
        adb.put_setting("system", "screen_brightness", str(start))

    def score(self, env: Environment) -> float:
        value = int(Adb(env).setting("system", "screen_brightness") or -1000)
        return float(abs(value / 255 * 100 - self.params.percent) <= self.TOLERANCE)


class BrightnessMax(_Brightness):
    name = "brightness-max"
    template = "Set the screen brightness to the maximum."

    @classmethod
    def generate_params(cls, seed: int) -> BrightnessParams:
        return BrightnessParams(percent=100)


class BrightnessMin(_Brightness):
    name = "brightness-min"
    template = "Set the screen brightness to the minimum."

    @classmethod
    def generate_params(cls, seed: int) -> BrightnessParams:
        return BrightnessParams(percent=0)


class BrightnessLevel(_Brightness):
    name = "brightness-level"
    difficulty = "medium"
    template = "Set the screen brightness to about {percent}%."

    @classmethod
    def generate_params(cls, seed: int) -> BrightnessParams:
        return BrightnessParams(percent=seeded_rng(seed, cls.name).choice((25, 40, 50, 60, 75)))


# -- apps -------------------------------------------------------------------------------------------------

APP_PACKAGES: dict[str, tuple[str, ...]] = {
    "Settings": ("com.android.settings",),
    "Contacts": ("com.android.contacts", "com.google.android.contacts"),
    "Clock": ("com.android.deskclock", "com.google.android.deskclock"),
    "Notes": ("org.simphone.notes",),
    "Expenses": ("org.simphone.expenses",),
}


class AppParams(TaskParams):
    app: str


class OpenApp(PhoneTask):
    name = "open-app"
    apps = ("Launcher",)
    Params = AppParams
    template = "Open the {app} app."
    APPS: ClassVar[tuple[str, ...]] = ("Settings", "Contacts", "Clock", "Notes", "Expenses")

    @classmethod
    def generate_params(cls, seed: int) -> AppParams:
        return AppParams(app=seeded_rng(seed, cls.name).choice(cls.APPS))

    def score(self, env: Environment) -> float:
        return float(Adb(env).foreground_package() in APP_PACKAGES[self.params.app])


# -- contacts -------------------------------------------------------------------------------------------


class ContactParams(TaskParams):
    name: str
    number: str


class AddContact(PhoneTask):
    name = "add-contact"
    apps = ("Contacts",)
    difficulty = "medium"
    max_steps = 12
    Params = ContactParams
    template = "Add a contact named {name} with the phone number {number}."
    standard = True

    @classmethod
    def generate_params(cls, seed: int) -> ContactParams:
        rng = seeded_rng(seed, cls.name)
        return ContactParams(name=random_name(rng), number=random_number(rng))

    def setup(self, env: Environment) -> None:
        # Contacts cannot be deleted with standard commands everywhere; names are random, so a leftover
        # from an earlier instance would be the same seed's own contact. Refuse such a start.
        if self.params.name in [n for n, _ in Adb(env).contacts()]:
            raise TaskSetupError(f"a contact named {self.params.name!r} exists already; use a fresh device")

    def score(self, env: Environment) -> float:
        p: Any = self.params
        return float(any(n.strip() == p.name and digits(num) == digits(p.number) for n, num in Adb(env).contacts()))


class AddContactNameOnly(AddContact):
    name = "add-contact-name-only"
    difficulty = "easy"
    max_steps = 10
    template = "Create a new contact called {name}; no phone number is needed."

    def score(self, env: Environment) -> float:
        return float(any(n.strip() == self.params.name for n, _ in Adb(env).contacts()))


class TwoContactsParams(TaskParams):
    name1: str
    number1: str
    name2: str
    number2: str


class AddTwoContacts(PhoneTask):
    name = "add-two-contacts"
    apps = ("Contacts",)
    difficulty = "hard"
    max_steps = 20
    Params = TwoContactsParams
    template = "Add two contacts: {name1} ({number1}) and {name2} ({number2})."
    standard = True

    @classmethod
    def generate_params(cls, seed: int) -> TwoContactsParams:
        rng = seeded_rng(seed, cls.name)
        n1 = random_name(rng)
        n2 = next(n for n in iter(lambda: random_name(rng), None) if n != n1)
        return TwoContactsParams(name1=n1, number1=random_number(rng), name2=n2, number2=random_number(rng))

    def score(self, env: Environment) -> float:
        p: Any = self.params
        have = {(n.strip(), digits(num)) for n, num in Adb(env).contacts()}
        done = [(p.name1, digits(p.number1)) in have, (p.name2, digits(p.number2)) in have]
        return partial_credit(done)


PHONE_TASKS: tuple[type[PhoneTask], ...] = (
    ToggleWifi, ToggleBluetooth, ToggleAirplane, TwoToggles, AllOff, BrightnessMax, BrightnessMin, BrightnessLevel,
    OpenApp, AddContact, AddContactNameOnly, AddTwoContacts, CreateNote, CreateTwoNotes, DeleteNote, DeleteAllNotes,
    AddExpense, AddTwoExpenses, ContactNumberToNote, ContactThenNote, WifiOffThenNote,
)


def _android_variant(cls: type[PhoneTask]) -> type[PhoneTask]:
    """The same template on a real device or emulator: the factory's Android driver (--serial picks it)."""
    attrs: dict[str, Any] = {"suite": "android", "environment_options": classmethod(lambda c: {}),
                             "create_environment": classmethod(Task.create_environment.__func__),
                             "has_oracle": classmethod(lambda c: False), "__doc__": cls.__doc__}
    if cls is OpenApp:
        attrs["APPS"] = ("Settings", "Contacts", "Clock")
    return type(f"Android{cls.__name__}", (cls,), attrs)


PHONE_SUITE = Suite("phone", "tasks on the simulated Android phone, checked over adb", {t.name: t for t in PHONE_TASKS})
ANDROID_SUITE = Suite("android", "standard-Android tasks for a real device or emulator (adb)",
                      {t.name: _android_variant(t) for t in (*PHONE_TASKS, OpenApp) if t.standard or t is OpenApp})
