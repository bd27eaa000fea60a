"""Which actions wait for a human, whatever the model says.

An action is classified from what it touches, not from the model's words: what a person reads on the control
a click or long press activates (the page's layout and accessible names in the browser, the accessibility
tree on Android, where the driver can say), matched as a person reads it (see `reading`), the keys pressed, the app opened, the address visited, and the site or app in front. Built-in patterns cover
paying, transferring, deleting, sending and installing in English and Chinese; users add allow and deny lists.

The lists judge what the driver will do, not how the model spelled it: an address by the host the browser
visits (see `hosts`), keys by the action spaces' canonical key names, which the drivers press (`actions.keys`,
`actions.mobile_keys`), an app by its name and the package `open` starts for it, which the driver's app
catalogue resolves (from the device's packages and the user's app names). An app reached without `open` (a
tap on its icon) is judged by the package in front, from the next action on. The policy reads drivers only
through the environment's capabilities (`environments.capabilities`), never a driver module.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from actions.base import Action
from actions.keys import UnknownKey, key_combo, pressed_combos
from actions.mobile import MobileKey
from actions.mobile_keys import normalise_key
from actions.text import clip
from agent.safety.hosts import address_host
from agent.safety.reading import readable
from environments.base import ObservationExtras
from environments.capabilities import AppCatalog, TextAtPoint, find_capability

Mode = Literal["ask", "allow", "deny"]
Verdict = Literal["allow", "ask", "deny"]

# Words that mark a risky target. English ones match whole words; Chinese ones match anywhere.
RISKY_WORDS_EN = (
    "pay", "pay now", "payment", "purchase", "buy", "buy now", "checkout", "check out", "place order", "order now",
    "transfer", "send money", "wire", "withdraw", "donate", "subscribe", "delete", "remove", "erase", "wipe",
    "discard", "destroy", "format disk", "format drive", "factory reset", "send", "post", "publish", "install",
    "uninstall", "authorize", "approve", "unsubscribe", "deactivate", "close account",
)
RISKY_WORDS_ZH = (
    "支付", "付款", "购买", "下单", "结算", "转账", "汇款", "提现", "充值", "删除", "移除", "清空", "格式化",
    "恢复出厂", "发送", "发布", "安装", "卸载", "确认支付", "确认付款", "立即购买", "注销",
)
# Written as `key_combo` writes them, the form actions are compared in.
RISKY_KEYS = ("shift+delete", "ctrl+alt+delete", "ctrl+shift+delete", "alt+f4", "meta+q", "meta+l")


# The name agent.safety gave TextAtPoint before the capabilities moved into the environment seam.
TargetInspector = TextAtPoint


class SafetyPolicy(BaseModel):
    """The user's rules. `mode` says what happens to a risky action: ask a human, allow it, or deny it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode = "ask"
    allow_apps: list[str] = Field(default_factory=list, description="Apps (name or package) never held back.")
    deny_apps: list[str] = Field(default_factory=list, description="Apps (name or package) never opened or used.")
    allow_domains: list[str] = Field(default_factory=list, description="Sites (and subdomains) never held back.")
    deny_domains: list[str] = Field(default_factory=list, description="Sites (and subdomains) never visited or used.")
    deny_keys: list[str] = Field(default_factory=list, description='Key combinations never pressed, e.g. "ctrl+w" (or a phone\'s "power").')
    patterns: list[str] = Field(default_factory=list, description="More risky-target regular expressions.")
    builtin_patterns: bool = Field(default=True, description="Use the built-in English and Chinese words.")

    @field_validator("allow_apps", "deny_apps")
    @classmethod
    def _apps(cls, values: list[str]) -> list[str]:
        out = [v.strip() for v in values]
        for v in out:
            if not app_key(v):  # "", "*", "!!!": without its punctuation the entry names nothing
                raise ValueError(f"{v!r} names no app; give an app's name (Settings) or package "
                                 "(com.android.settings), one per entry, without wildcards")
        return out

    @field_validator("deny_keys")
    @classmethod
    def _keys(cls, values: list[str]) -> list[str]:
        out = []
        for v in values:
            try:
                out.append(key_combo([v]))
            except UnknownKey as e:
                android = normalise_key(v)  # a phone's key ("power"), pressed by the mobile `key` action
                if android is None:
                    raise ValueError(f"{e} (or an Android key such as 'power')") from None
                out.append(android)
        return out

    @field_validator("allow_domains", "deny_domains")
    @classmethod
    def _domains(cls, values: list[str]) -> list[str]:
        out = []
        for v in values:
            # The host the browser would visit for the entry, so it compares with what actions visit; a
            # leading "*." adds nothing, every entry covers its subdomains.
            host = (address_host(v) or "").lstrip("*.")
            if not host:
                raise ValueError(f"{v!r} is not a domain; write it like example.com")
            out.append(host)
        return out

    @field_validator("patterns")
    @classmethod
    def _patterns(cls, values: list[str]) -> list[str]:
        for p in values:
            try:
                compiled = re.compile(p, re.IGNORECASE)
            except re.error as e:
                raise ValueError(f"pattern {p!r} is not a regular expression: {e}") from None
            if compiled.search("") is not None:
                raise ValueError(f"pattern {p!r} matches every text, so every action would be held back")
        return values


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)
    target_text: str | None = None
    # Who refuses a "deny", for the recording: a deny list (in any mode), or the mode for a risky action.
    refused_by: str = "the policy (mode deny)"


class RiskClassifier:
    """Applies a SafetyPolicy to actions in driver coordinates."""

    def __init__(self, policy: SafetyPolicy):
        self.policy = policy
        words_en = RISKY_WORDS_EN if policy.builtin_patterns else ()
        words_zh = RISKY_WORDS_ZH if policy.builtin_patterns else ()
        parts = [r"\b" + re.escape(w).replace(r"\ ", r"\s+") + r"\b" for w in words_en]
        parts += [re.escape(w) for w in words_zh] + list(policy.patterns)
        self._risky = re.compile("|".join(parts), re.IGNORECASE) if parts else None
        self._risky_keys = set(RISKY_KEYS if policy.builtin_patterns else ())
        # A phone's names for the denied keys too ("delete" is KEYCODE_DEL), for the mobile `key` action.
        self._deny_keys = set(policy.deny_keys) | set(filter(None, map(normalise_key, policy.deny_keys)))

    def assess(self, action: Action, inspector: object, extras: ObservationExtras) -> Assessment:
        """Judge `action` about to be done in the environment `inspector` (its capabilities, found through its
        wrappers, tell what the action touches), whose last observation had `extras`."""
        p = self.policy
        reasons: list[str] = []
        catalog = find_capability(inspector, AppCatalog)
        # Where the action happens: the site or app in front, and the one it goes to.
        here_domain = address_host(extras.url or "")
        here_app = extras.foreground_package or ""
        url = getattr(action, "url", None)
        app = action.text if action.action == "open" else None
        dest = address_host(url) if isinstance(url, str) else None
        if url and not dest:
            # An address with no readable host (a garbled or local one) is vouched for by no list, and cleared
            # by no deny list either.
            if p.deny_domains:
                return Assessment("deny", [f"the address {clip(url)!r} names no site, so the deny list of domains "
                                           "cannot clear it"], refused_by="the deny list")
            reasons.append(f"the address {clip(url)!r} names no site that the lists could vouch for")
        for domain in filter(None, (dest, here_domain)):
            if _domain_in(domain, p.deny_domains):
                return Assessment("deny", [f"{domain} is on the deny list of domains"], refused_by="the deny list")
        for name in filter(None, (app, here_app)):
            if entry := self._listed_app(name, p.deny_apps, catalog):
                return Assessment("deny", [f"app {clip(name)!r} matches {entry!r} on the deny list of apps"],
                                  refused_by="the deny list")
        for combo in sorted(self._pressed(action)):
            if combo in self._deny_keys:
                return Assessment("deny", [f"keys {combo} are on the deny list"], refused_by="the deny list")
            if combo in self._risky_keys:
                reasons.append(f"keys {combo} can close, lock or delete")
        if (dest and _domain_in(dest, p.allow_domains)) or (not url and here_domain and
                                                           _domain_in(here_domain, p.allow_domains)):
            return Assessment("allow", ["the site is on the allow list"])
        if (app or here_app) and self._listed_app(app or here_app, p.allow_apps, catalog):
            return Assessment("allow", ["the app is on the allow list"])
        target = None
        points = action.points()
        texts = find_capability(inspector, TextAtPoint)
        if points and texts is not None and action.action not in ("mouse_move", "scroll"):
            target = texts.text_at(*points[-1 if action.action == "left_click_drag" else 0])
        for label, text in (("the target", target), ("the app to open", app), ("the address", url)):
            if text and (word := self._risky_word(text)):
                reasons.append(f"{label} {clip(text)!r} matches {word!r}")
        if not reasons:
            return Assessment("allow", target_text=target)
        return Assessment(p.mode, reasons, target)

    def _risky_word(self, text: str) -> str | None:
        """The risky word or pattern `text` reads as, matched in what a person reads (see `reading`): as it
        reads, and with its spaces and line breaks closed up, since letters a page spaces out ("D e l e t e")
        or breaks over two lines still read as one word."""
        if self._risky is None:
            return None
        read = readable(text)
        m = self._risky.search(read) or self._risky.search(re.sub(r"\s+", "", read))
        return m.group(0) if m else None

    @staticmethod
    def _pressed(action: Action) -> set[str]:
        """The key combinations an action presses, as the lists write them; none where the driver would
        refuse the keys as unknown (with the same message)."""
        if isinstance(action, MobileKey):
            return {key} if (key := normalise_key(action.text)) else set()
        keys = getattr(action, "keys", None)
        if keys is None:
            return set()
        try:
            return pressed_combos(keys)
        except UnknownKey:
            return set()

    @staticmethod
    def _listed_app(name: str, entries: list[str], catalog: AppCatalog | None) -> str | None:
        """The entry of `entries` that names the app `name` stands for, by name or by package."""
        if not entries:
            return None
        ids = _app_ids(name, catalog)
        return next((e for e in entries if ids & _app_ids(e, catalog)), None)


def app_key(name: str) -> str:
    """An app name or package as the lists compare it: case, width, spaces and punctuation aside
    ("Settings!", " settings" and "SETTINGS" are one name)."""
    return re.sub(r"[\W_]+", " ", unicodedata.normalize("NFKC", name).casefold()).strip()


def _app_ids(name: str, catalog: AppCatalog | None) -> set[str]:
    """What an app name stands for: itself and the package `open` would start for it, as the driver's catalogue
    resolves it. Without a catalogue nothing can be opened (a browser's `open` is refused), so the name alone."""
    package = catalog.app_package(name) if catalog is not None else None
    return {k for k in map(app_key, (name, *filter(None, [package]))) if k}


def _domain_in(host: str, domains: list[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)
