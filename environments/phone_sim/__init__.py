"""A simulated Android phone that speaks the real ADB transport protocol over TCP.

Debian's `adb` attaches to it with `adb connect 127.0.0.1:PORT`, and adbutils talks to it unchanged.
It renders a phone screen with PIL (launcher, Settings, Contacts, Notes, Expenses, Clock) and answers
the shell commands drivers use (`input`, `screencap`, `wm`, `am`, `pm`, `settings`, `content`,
`uiautomator dump`, `dumpsys`, ADBKeyboard's broadcasts) against an in-memory `PhoneState`.
"""

from environments.phone_sim.server import PhoneServer, serve
from environments.phone_sim.state import APPS, App, Contact, Expense, PhoneState

__all__ = ["APPS", "App", "Contact", "Expense", "PhoneServer", "PhoneState", "serve"]
