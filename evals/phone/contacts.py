"""Phone task templates in Contacts: add one or two, read from the contacts provider (`content query`)."""

from __future__ import annotations

from typing import Any


from environments.base import Environment
from evals.phone.base import (PhoneTask, partial_credit, random_name, random_number)
from evals.phone.device import Adb, digits
from evals.task import TaskParams, TaskSetupError, seeded_rng


class ContactParams(TaskParams):
    name: str
    number: str


class AddContact(PhoneTask[ContactParams]):
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


class AddTwoContacts(PhoneTask[TwoContactsParams]):
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
