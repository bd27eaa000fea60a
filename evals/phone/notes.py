"""Phone task templates in Notes, the simulated phone's app: notes are text files under /sdcard/Notes, so setup and
checks use `ls`, `cat`, `rm` and a file push."""

from __future__ import annotations

from typing import Any


from environments.base import Environment
from evals.phone.base import (NOTES_DIR, PhoneTask, partial_credit, random_phrase)
from evals.phone.device import Adb
from evals.task import TaskParams, TaskSetupError, seeded_rng


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


class CreateNote(PhoneTask[TextParams]):
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


class CreateTwoNotes(PhoneTask[TwoTextsParams]):
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


class DeleteNote(PhoneTask[TitleParams]):
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
