"""What every phone task shares: the base class (simulated phone, oracle lookup) and random values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from actions.base import Action
from environments.base import Environment
from evals.phone.device import Adb, SimulatedPhoneEnvironment
from evals.task import P, Task

NOTES_DIR = "/sdcard/Notes"
FIRST = ("Mia", "Noah", "Ava", "Liam", "Zoe", "Omar", "Iris", "Hugo", "Lena", "Ravi", "Nora", "Theo", "Yara", "Ezra")
LAST = ("Lopez", "Berg", "Okafor", "Tanaka", "Novak", "Silva", "Haddad", "Moreau", "Kowal", "Reyes", "Ng", "Fischer")
WORDS = ("milk", "eggs", "bread", "call", "dentist", "gym", "books", "tickets", "laundry", "plants", "keys", "rent")
TOGGLES: dict[str, tuple[str, str]] = {  # label in the goal -> (namespace, key)
    "Wi-Fi": ("global", "wifi_on"),
    "Bluetooth": ("global", "bluetooth_on"),
    "airplane mode": ("global", "airplane_mode_on"),
}
State = Literal["on", "off"]


def partial_credit(done: list[bool]) -> float:
    """A task's score from its parts: 1.0 when all are done, else half credit shared among the parts done: an unfinished
    task always scores below a finished one, and the success rate counts only 1.0."""
    return 1.0 if all(done) else 0.5 * sum(done) / len(done)


def bit(state: str) -> str:
    return "1" if state == "on" else "0"


def random_name(rng: Any) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def random_number(rng: Any) -> str:
    return f"555-{rng.randrange(1000, 10000)}"


def random_phrase(rng: Any, n: int = 3) -> str:
    return " ".join(rng.sample(WORDS, n))


class PhoneTask(Task[P]):
    suite: ClassVar[str] = "phone"
    environment: ClassVar[str] = "android"
    # In the `android` suite too: setup and checks need nothing beyond standard Android.
    standard: ClassVar[bool] = False

    @classmethod
    def environment_options(cls) -> dict[str, Any]:
        return {"simulated_phone": True}

    @classmethod
    def create_environment(cls, overrides: dict[str, Any]) -> Environment:
        return SimulatedPhoneEnvironment(**overrides)

    @classmethod
    def has_oracle(cls) -> bool:
        from evals.phone.oracle import SCRIPTS

        return cls.name in SCRIPTS

    def oracle(self, env: Environment) -> Iterator[Action] | None:
        from evals.phone.oracle import SCRIPTS

        script = SCRIPTS.get(self.name)
        return script(Adb(env), self) if script else None
