"""Phone task templates in Settings: the wifi, bluetooth and airplane toggles, and the brightness, read with
`settings get`."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from environments.base import Environment
from evals.phone.base import (TOGGLES, PhoneTask, State, bit, partial_credit)
from evals.phone.device import Adb
from evals.task import TaskParams, seeded_rng


class ToggleParams(TaskParams):
    setting: Literal["Wi-Fi", "Bluetooth", "airplane mode"]
    state: State


class _Toggle(PhoneTask[ToggleParams]):
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


class TwoToggles(PhoneTask[TwoTogglesParams]):
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


class AllOff(PhoneTask[TaskParams]):
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


class _Brightness(PhoneTask[BrightnessParams]):
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
