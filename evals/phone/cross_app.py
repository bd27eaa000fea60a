"""Phone task templates that cross apps: a contact's number into a note, a contact then a note, wifi off then a
note."""

from __future__ import annotations

from typing import Any, ClassVar


from environments.base import Environment
from evals.phone.base import (PhoneTask, partial_credit, random_name, random_number,
                              random_phrase)
from evals.phone.device import Adb, digits
from evals.task import TaskParams, TaskSetupError, seeded_rng
from evals.phone.notes import TextParams, clear_notes, notes


class WhoParams(TaskParams):
    who: str


class ContactNumberToNote(PhoneTask[WhoParams]):
    name = "contact-number-to-note"
    apps = ("Contacts", "Notes")
    difficulty = "hard"
    max_steps = 14
    Params = WhoParams
    template = "Look up {who}'s phone number in Contacts and write it in a new note."
    # The simulated phone's stock contacts; setup checks that the device has the one asked for.
    KNOWN: ClassVar[tuple[str, ...]] = ("Alice Martin", "Bob Chen")

    @classmethod
    def generate_params(cls, seed: int) -> WhoParams:
        return WhoParams(who=seeded_rng(seed, cls.name).choice(cls.KNOWN))

    def number(self, adb: Adb) -> str:
        found = [num for n, num in adb.contacts() if n == self.params.who]
        if not found:
            raise TaskSetupError(f"the device has no contact named {self.params.who!r}")
        return found[0]

    def setup(self, env: Environment) -> None:
        adb = Adb(env)
        self.number(adb)
        clear_notes(adb)

    def score(self, env: Environment) -> float:
        adb = Adb(env)
        want = digits(self.number(adb))
        return float(any(want and want in digits(t) for t in notes(adb).values()))


class ContactNoteParams(TaskParams):
    name: str
    number: str


class ContactThenNote(PhoneTask[ContactNoteParams]):
    name = "contact-then-note"
    apps = ("Contacts", "Notes")
    difficulty = "hard"
    max_steps = 20
    Params = ContactNoteParams
    template = "Add a contact named {name} with the number {number}, then create a note that says Call {name}."

    @classmethod
    def generate_params(cls, seed: int) -> ContactNoteParams:
        rng = seeded_rng(seed, cls.name)
        return ContactNoteParams(name=random_name(rng), number=random_number(rng))

    def setup(self, env: Environment) -> None:
        clear_notes(Adb(env))

    def score(self, env: Environment) -> float:
        adb = Adb(env)
        p: Any = self.params
        contact = any(n.strip() == p.name and digits(num) == digits(p.number) for n, num in adb.contacts())
        note = any(t.strip() == f"Call {p.name}" for t in notes(adb).values())
        return partial_credit([contact, note])


class WifiOffThenNote(PhoneTask[TextParams]):
    name = "wifi-off-then-note"
    apps = ("Settings", "Notes")
    difficulty = "hard"
    max_steps = 16
    Params = TextParams
    template = "Turn off Wi-Fi, then create a note that says: {text}"

    @classmethod
    def generate_params(cls, seed: int) -> TextParams:
        return TextParams(text=random_phrase(seeded_rng(seed, cls.name)))

    def setup(self, env: Environment) -> None:
        adb = Adb(env)
        adb.put_setting("global", "wifi_on", "1")
        clear_notes(adb)

    def score(self, env: Environment) -> float:
        adb = Adb(env)
        wifi = adb.setting("global", "wifi_on") == "0"
        note = any(t.strip() == self.params.text for t in notes(adb).values())
        return partial_credit([wifi, note])
