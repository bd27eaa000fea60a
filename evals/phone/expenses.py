"""Phone task templates in Expenses, the simulated phone's app: read from its content provider, which only the
simulated phone has."""

from __future__ import annotations

from typing import Any


from environments.base import Environment
from evals.phone.base import (PhoneTask, partial_credit)
from evals.phone.device import Adb
from evals.task import TaskParams, seeded_rng


EXPENSES_URI = "content://org.simphone.expenses/expenses"


class ExpenseParams(TaskParams):
    item: str
    amount: str


def _expense(rng: Any) -> tuple[str, str]:
    return rng.choice(("Lunch", "Taxi", "Coffee", "Books", "Cinema", "Groceries")), f"{rng.randrange(3, 90)}.{rng.randrange(0, 100):02d}"


def expenses(adb: Adb) -> list[tuple[str, str]]:
    return [(r.get("name", ""), r.get("amount", "")) for r in adb.query(EXPENSES_URI)]


class AddExpense(PhoneTask[ExpenseParams]):
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


class AddTwoExpenses(PhoneTask[TwoExpensesParams]):
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
