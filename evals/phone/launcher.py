"""The phone task template of the launcher: open an app, checked by the package in the foreground."""

from __future__ import annotations

from typing import ClassVar


from environments.base import Environment
from evals.phone.base import (PhoneTask)
from evals.phone.device import Adb
from evals.task import TaskParams, seeded_rng


APP_PACKAGES: dict[str, tuple[str, ...]] = {
    "Settings": ("com.android.settings",),
    "Contacts": ("com.android.contacts", "com.google.android.contacts"),
    "Clock": ("com.android.deskclock", "com.google.android.deskclock"),
    "Notes": ("org.simphone.notes",),
    "Expenses": ("org.simphone.expenses",),
}


class AppParams(TaskParams):
    app: str


class OpenApp(PhoneTask[AppParams]):
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
