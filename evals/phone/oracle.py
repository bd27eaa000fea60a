"""Scripted solutions of the phone tasks for the oracle agent.

A script reads privileged state (the UI hierarchy from `uiautomator dump`, the contacts provider) to
decide, and yields mobile actions in device pixels; the oracle backend writes each as a model answer,
so the parser, the coordinate mapping and the Android driver carry it out like any model's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from actions.base import Action, Type, Wait
from actions.mobile import Click, LongPress, Open
from evals.phone.base import TOGGLES
from evals.phone.device import Adb, UiNode

Script = Callable[[Adb, Any], Iterator[Action]]
MAX_WAITS = 4
SWITCH_IDS = {"wifi_on": "com.android.settings:id/wifi_switch", "bluetooth_on": "com.android.settings:id/bluetooth_switch",
              "airplane_mode_on": "com.android.settings:id/airplane_switch"}


class OracleError(RuntimeError):
    pass


def find(adb: Adb, rid: str | None = None, text: str | None = None) -> Iterator[Any]:
    """Wait (a Wait action at a time) until a node with this resource id and/or text is on screen; the
    generator's return value is the node."""
    for _ in range(MAX_WAITS + 1):
        for node in adb.ui_nodes():
            if (rid is None or node.rid == rid) and (text is None or node.text == text):
                return node
        yield Wait(time=0.5)
    raise OracleError(f"no node with resource id {rid!r} and text {text!r} on screen")


def tap(adb: Adb, rid: str | None = None, text: str | None = None) -> Iterator[Action]:
    node: UiNode = yield from find(adb, rid, text)
    yield Click(coordinate=node.centre)


def fill(adb: Adb, rid: str, text: str) -> Iterator[Action]:
    if text:
        yield from tap(adb, rid)
        yield Type(text=text)


def set_toggle(adb: Adb, setting: str, state: str) -> Iterator[Action]:
    _, key = TOGGLES[setting]
    node: UiNode = yield from find(adb, SWITCH_IDS[key])
    if node.checked != (state == "on"):
        yield Click(coordinate=node.centre)


def toggles(adb: Adb, targets: list[tuple[str, str]]) -> Iterator[Action]:
    yield Open(text="Settings")
    for setting, state in targets:
        yield from set_toggle(adb, setting, state)


def toggle(adb: Adb, task: Any) -> Iterator[Action]:
    yield from toggles(adb, [(task.params.setting, task.params.state)])


def two_toggles(adb: Adb, task: Any) -> Iterator[Action]:
    p = task.params
    yield from toggles(adb, [(p.first, p.first_state), (p.second, p.second_state)])


def all_off(adb: Adb, task: Any) -> Iterator[Action]:
    yield from toggles(adb, [(s, "off") for s in TOGGLES])


def brightness(adb: Adb, task: Any) -> Iterator[Action]:
    yield Open(text="Settings")
    node: UiNode = yield from find(adb, "com.android.settings:id/brightness")
    left, _, right, _ = node.bounds
    x = left + round(task.params.percent / 100 * (right - left - 1))
    # Keep a few pixels inside the slider: the trip through model-image pixels may move a point by one or two.
    x = min(max(x, left + 4), right - 5)
    yield Click(coordinate=(x, node.centre[1]))


def open_app(adb: Adb, task: Any) -> Iterator[Action]:
    yield Open(text=task.params.app)


def new_contact(adb: Adb, name: str, number: str) -> Iterator[Action]:
    yield Open(text="Contacts")
    yield from tap(adb, "com.android.contacts:id/floating_action_button")
    yield from fill(adb, "com.android.contacts:id/name", name)
    yield from fill(adb, "com.android.contacts:id/phone", number)
    yield from tap(adb, "com.android.contacts:id/save")


def add_contact(adb: Adb, task: Any) -> Iterator[Action]:
    yield from new_contact(adb, task.params.name, getattr(task.params, "number", ""))


def add_contact_name_only(adb: Adb, task: Any) -> Iterator[Action]:
    yield from new_contact(adb, task.params.name, "")


def add_two_contacts(adb: Adb, task: Any) -> Iterator[Action]:
    p = task.params
    yield from new_contact(adb, p.name1, p.number1)
    yield from new_contact(adb, p.name2, p.number2)


def new_note(adb: Adb, text: str) -> Iterator[Action]:
    yield Open(text="Notes")
    yield from tap(adb, "org.simphone.notes:id/new_note")
    yield from fill(adb, "org.simphone.notes:id/note_body", text)
    yield from tap(adb, "org.simphone.notes:id/save")


def create_note(adb: Adb, task: Any) -> Iterator[Action]:
    yield from new_note(adb, task.params.text)


def create_two_notes(adb: Adb, task: Any) -> Iterator[Action]:
    yield from new_note(adb, task.params.first)
    yield from new_note(adb, task.params.second)


def delete_notes(adb: Adb, titles: list[str]) -> Iterator[Action]:
    yield Open(text="Notes")
    for title in titles:
        node: UiNode = yield from find(adb, "org.simphone.notes:id/note_title", title)
        yield LongPress(coordinate=node.centre, time=1.0)


def delete_note(adb: Adb, task: Any) -> Iterator[Action]:
    yield from delete_notes(adb, [task.params.title])


def delete_all_notes(adb: Adb, task: Any) -> Iterator[Action]:
    yield from delete_notes(adb, [task.params.title, task.params.other])


def new_expense(adb: Adb, item: str, amount: str) -> Iterator[Action]:
    yield Open(text="Expenses")
    yield from tap(adb, "org.simphone.expenses:id/add")
    yield from fill(adb, "org.simphone.expenses:id/name", item)
    yield from fill(adb, "org.simphone.expenses:id/amount", amount)
    yield from tap(adb, "org.simphone.expenses:id/save")


def add_expense(adb: Adb, task: Any) -> Iterator[Action]:
    yield from new_expense(adb, task.params.item, task.params.amount)


def add_two_expenses(adb: Adb, task: Any) -> Iterator[Action]:
    p = task.params
    yield from new_expense(adb, p.item1, p.amount1)
    yield from new_expense(adb, p.item2, p.amount2)


def contact_number_to_note(adb: Adb, task: Any) -> Iterator[Action]:
    yield Open(text="Contacts")  # where a user would look; the number itself is read from the provider
    yield from new_note(adb, task.number(adb))


def contact_then_note(adb: Adb, task: Any) -> Iterator[Action]:
    yield from new_contact(adb, task.params.name, task.params.number)
    yield from new_note(adb, f"Call {task.params.name}")


def wifi_off_then_note(adb: Adb, task: Any) -> Iterator[Action]:
    yield from toggles(adb, [("Wi-Fi", "off")])
    yield from new_note(adb, task.params.text)


SCRIPTS: dict[str, Script] = {
    "toggle-wifi": toggle,
    "toggle-bluetooth": toggle,
    "toggle-airplane-mode": toggle,
    "two-toggles": two_toggles,
    "all-radios-off": all_off,
    "brightness-max": brightness,
    "brightness-min": brightness,
    "brightness-level": brightness,
    "open-app": open_app,
    "add-contact": add_contact,
    "add-contact-name-only": add_contact_name_only,
    "add-two-contacts": add_two_contacts,
    "create-note": create_note,
    "create-two-notes": create_two_notes,
    "delete-note": delete_note,
    "delete-all-notes": delete_all_notes,
    "add-expense": add_expense,
    "add-two-expenses": add_two_expenses,
    "contact-number-to-note": contact_number_to_note,
    "contact-then-note": contact_then_note,
    "wifi-off-then-note": wifi_off_then_note,
}
