"""Note and expense templates (the simulated phone's apps), and tasks that cross apps.

Notes are text files under /sdcard/Notes, so setup and checks use `ls`, `cat`, `rm` and a file push;
expenses are read from the Expenses app's content provider, which only the simulated phone has.
"""

from __future__ import annotations

from typing import Any, ClassVar

from environments.base import Environment
from evals.phone.base import NOTES_DIR, PhoneTask, partial_credit, random_name, random_number, random_phrase
from evals.phone.device import Adb, digits
from evals.task import TaskParams, TaskSetupError, seeded_rng

EXPENSES_URI = "content://org.simphone.expenses/expenses"


def notes(adb: Adb) -> dict[str, str]:
    """path -> text of every note."""
    return {f"{NOTES_DIR}/{n}": adb.read_file(f"{NOTES_DIR}/{n}") for n in adb.list_dir(NOTES_DIR) if n.endswith(".txt")}


def clear_notes(adb: Adb) -> None:
    for path in notes(adb):
        adb.remove(path)
    if notes(adb):
        raise TaskSetupError(f"could not empty {NOTES_DIR}")


class TextParams(TaskParams):
    text: str


class CreateNote(PhoneTask):
    name = "create-note"
    apps = ("Notes",)
    max_steps = 10
    Params = TextParams
    template = "Create a note that says: {text}"

    @classmethod
    def generate_params(cls, seed: int) -> TextParams:
        return TextParams(text=random_phrase(seeded_rng(seed, cls.name)))

    def setup(self, env: Environment) -> None:
        clear_notes(Adb(env))

    def score(self, env: Environment) -> float:
        return float(any(t.strip() == self.params.text for t in notes(Adb(env)).values()))


class TwoTextsParams(TaskParams):
    first: str
    second: str


class CreateTwoNotes(PhoneTask):
    name = "create-two-notes"
    apps = ("Notes",)
    difficulty = "medium"
    max_steps = 16
    Params = TwoTextsParams
    template = "Create two notes: one that says {first} and another that says {second}."

    @classmethod
    def generate_params(cls, seed: int) -> TwoTextsParams:
        rng = seeded_rng(seed, cls.name)
        a = random_phrase(rng, 2)
        b = next(p for p in iter(lambda: random_phrase(rng, 2), None) if p != a)
        return TwoTextsParams(first=a, second=b)

    def setup(self, env: Environment) -> None:
        clear_notes(Adb(env))

    def score(self, env: Environment) -> float:
        texts = [t.strip() for t in notes(Adb(env)).values()]
        done = [self.params.first in texts, self.params.second in texts]
        return partial_credit(done)


class TitleParams(TaskParams):
    title: str
    other: str


class DeleteNote(PhoneTask):
    name = "delete-note"
    apps = ("Notes",)
    difficulty = "medium"
    Params = TitleParams
    template = "Delete the note titled {title} (press and hold a note to delete it)."

    @classmethod
    def generate_params(cls, seed: int) -> TitleParams:
        rng = seeded_rng(seed, cls.name)
        a = random_phrase(rng, 2)
        b = next(p for p in iter(lambda: random_phrase(rng, 2), None) if p != a)
        return TitleParams(title=a.capitalize(), other=b.capitalize())

    def setup(self, env: Environment) -> None:
        adb = Adb(env)
        clear_notes(adb)
        p: Any = self.params
        adb.push_text(f"{NOTES_DIR}/note-1.txt", f"{p.title}\nto be deleted")
        adb.push_text(f"{NOTES_DIR}/note-2.txt", f"{p.other}\nkeep this one")
        if len(notes(adb)) != 2:
            raise TaskSetupError("pushing the starting notes failed")

    def score(self, env: Environment) -> float:
        titles = [t.split("\n", 1)[0] for t in notes(Adb(env)).values()]
        p: Any = self.params
        return float(p.title not in titles and p.other in titles)


class DeleteAllNotes(DeleteNote):
    name = "delete-all-notes"
    max_steps = 10
    template = "Delete all notes, {title} and {other} (press and hold a note to delete it)."

    def score(self, env: Environment) -> float:
        return float(not notes(Adb(env)))


class ExpenseParams(TaskParams):
    item: str
    amount: str


def _expense(rng: Any) -> tuple[str, str]:
    return rng.choice(("Lunch", "Taxi", "Coffee", "Books", "Cinema", "Groceries")), f"{rng.randrange(3, 90)}.{rng.randrange(0, 100):02d}"


def expenses(adb: Adb) -> list[tuple[str, str]]:
    return [(r.get("name", ""), r.get("amount", "")) for r in adb.query(EXPENSES_URI)]


class AddExpense(PhoneTask):
    name = "add-expense"
    apps = ("Expenses",)
    difficulty = "medium"
    max_steps = 12
    Params = ExpenseParams
    template = "Record an expense named {item} of {amount} in the Expenses app."

    @classmethod
    def generate_params(cls, seed: int) -> ExpenseParams:
        item, amount = _expense(seeded_rng(seed, cls.name))
        return ExpenseParams(item=item, amount=amount)

    def setup(self, env: Environment) -> None:
        self._before = len(expenses(Adb(env)))

    def score(self, env: Environment) -> float:
        p: Any = self.params
        new = expenses(Adb(env))[self._before:]
        return float(any(n.strip() == p.item and a.strip() == p.amount for n, a in new))


class TwoExpensesParams(TaskParams):
    item1: str
    amount1: str
    item2: str
    amount2: str


class AddTwoExpenses(PhoneTask):
    name = "add-two-expenses"
    apps = ("Expenses",)
    difficulty = "hard"
    max_steps = 20
    Params = TwoExpensesParams
    template = "Record two expenses: {item1} for {amount1} and {item2} for {amount2}."

    @classmethod
    def generate_params(cls, seed: int) -> TwoExpensesParams:
        rng = seeded_rng(seed, cls.name)
        (i1, a1) = _expense(rng)
        (i2, a2) = next(e for e in iter(lambda: _expense(rng), None) if e[0] != i1)
        return TwoExpensesParams(item1=i1, amount1=a1, item2=i2, amount2=a2)

    def setup(self, env: Environment) -> None:
        self._before = len(expenses(Adb(env)))

    def score(self, env: Environment) -> float:
        p: Any = self.params
        new = {(n.strip(), a.strip()) for n, a in expenses(Adb(env))[self._before:]}
        done = [(p.item1, p.amount1) in new, (p.item2, p.amount2) in new]
        return partial_credit(done)


# -- across apps -------------------------------------------------------------------------------------------


class WhoParams(TaskParams):
    who: str


class ContactNumberToNote(PhoneTask):
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


class ContactThenNote(PhoneTask):
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


class WifiOffThenNote(PhoneTask):
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
