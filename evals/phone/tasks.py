"""The phone suites: every phone task template (one module per app: settings_app, launcher, contacts, notes, expenses,
and cross_app for tasks across apps), checked over adb.

Setup and scoring use standard Android commands only (`settings`, `content query`, `ls`/`cat`/`rm` on
/sdcard, `dumpsys window`). The `phone` suite runs them all on the simulated phone, which each worker
starts for itself; `android` holds the templates that make sense on any real device or emulator.
"""

from __future__ import annotations

from typing import Any

from evals.phone.base import PhoneTask
from evals.phone.contacts import AddContact, AddContactNameOnly, AddTwoContacts
from evals.phone.cross_app import ContactNumberToNote, ContactThenNote, WifiOffThenNote
from evals.phone.expenses import AddExpense, AddTwoExpenses
from evals.phone.launcher import OpenApp
from evals.phone.notes import CreateNote, CreateTwoNotes, DeleteAllNotes, DeleteNote
from evals.phone.settings_app import (AllOff, BrightnessLevel, BrightnessMax, BrightnessMin, ToggleAirplane, ToggleBluetooth,
                                  ToggleWifi, TwoToggles)
from evals.registry import Suite
from evals.task import Task


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
