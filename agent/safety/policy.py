"""Which actions wait for a human, whatever the model says.

An action is classified from what it touches, not from the model's words: the text of the element under a
click or long press (the DOM in the browser, the accessibility tree on Android, where the driver can say),
the keys pressed, the app opened, the address visited, and the site or app in front. Built-in patterns cover
paying, transferring, deleting, sending and installing in English and Chinese; users add allow and deny lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from actions.base import Action

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
RISKY_KEYS = ("shift+delete", "ctrl+alt+delete", "ctrl+shift+delete", "alt+f4", "cmd+q", "super+l")


@runtime_checkable
class TargetInspector(Protocol):
    """An optional driver capability: the visible text of what lies at a point (in driver coordinates)."""

    def text_at(self, x: int, y: int) -> str | None: ...


class PolicyError(ValueError):
    """A malformed policy, reported at start."""


class SafetyPolicy(BaseModel):
    """The user's rules. `mode` says what happens to a risky action: ask a human, allow it, or deny it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode = "ask"
    allow_apps: list[str] = Field(default_factory=list, description="Apps (name or package) never held back.")
    deny_apps: list[str] = Field(default_factory=list, description="Apps (name or package) never opened or used.")
    allow_domains: list[str] = Field(default_factory=list, description="Sites (and subdomains) never held back.")
    deny_domains: list[str] = Field(default_factory=list, description="Sites (and subdomains) never visited or used.")
    deny_keys: list[str] = Field(default_factory=list, description='Key combinations never pressed, e.g. "ctrl+w".')
    patterns: list[str] = Field(default_factory=list, description="More risky-target regular expressions.")
    builtin_patterns: bool = Field(default=True, description="Use the built-in English and Chinese words.")

    @field_validator("allow_apps", "deny_apps", "deny_keys")
    @classmethod
    def _names(cls, values: list[str]) -> list[str]:
        out = [v.strip().lower() for v in values]
        if any(not v for v in out):
            raise ValueError("an empty name in a list; remove it")
        return out

    @field_validator("allow_domains", "deny_domains")
    @classmethod
    def _domains(cls, values: list[str]) -> list[str]:
        out = []
        for v in values:
            host = (urlsplit(v).hostname if "://" in v else v.strip().split("/")[0]) or ""
            host = host.lower().lstrip("*.").rstrip(".")
            if not host or " " in host:
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

    def check_usable(self) -> None:
        """Refuse, at start, a policy under which nothing could ever be done."""
        if "*" in self.deny_apps:
            raise PolicyError("deny_apps holds '*': every app would be refused; list the apps to refuse instead")


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)
    target_text: str | None = None


class RiskClassifier:
    """Applies a SafetyPolicy to actions in driver coordinates."""

    def __init__(self, policy: SafetyPolicy):
        policy.check_usable()
        self.policy = policy
        words_en = RISKY_WORDS_EN if policy.builtin_patterns else ()
        words_zh = RISKY_WORDS_ZH if policy.builtin_patterns else ()
        parts = [r"\b" + re.escape(w).replace(r"\ ", r"\s+") + r"\b" for w in words_en]
        parts += [re.escape(w) for w in words_zh] + list(policy.patterns)
        self._risky = re.compile("|".join(parts), re.IGNORECASE) if parts else None
        self._risky_keys = set(RISKY_KEYS if policy.builtin_patterns else ())

    def assess(self, action: Action, inspector: object, extras: dict[str, object]) -> Assessment:
        p = self.policy
        reasons: list[str] = []
        # Where the action happens: the site or app in front, and the one it goes to.
        here_domain = _host(str(extras.get("url") or ""))
        here_app = str(extras.get("foreground_package") or "").lower()
        url = getattr(action, "url", None)
        app = action.text.lower() if action.action == "open" else None  # type: ignore[attr-defined]
        dest = _host(url) if isinstance(url, str) else None
        if url and not dest:
            # An address with no readable host (a garbled or local one) is vouched for by no list.
            reasons.append(f"the address {_clip(url)!r} names no site that the lists could vouch for")
        for domain in filter(None, (dest, here_domain)):
            if _domain_in(domain, p.deny_domains):
                return Assessment("deny", [f"{domain} is on the deny list of domains"])
        for name in filter(None, (app, here_app)):
            if name in p.deny_apps:
                return Assessment("deny", [f"app {name!r} is on the deny list of apps"])
        keys = getattr(action, "keys", None)
        if keys is not None:
            combo = "+".join(k.lower() for k in keys)
            if combo in p.deny_keys:
                return Assessment("deny", [f"keys {combo} are on the deny list"])
            if combo in self._risky_keys:
                reasons.append(f"keys {combo} can close, lock or delete")
        if (dest and _domain_in(dest, p.allow_domains)) or (not url and here_domain and
                                                           _domain_in(here_domain, p.allow_domains)):
            return Assessment("allow", ["the site is on the allow list"])
        if (app and app in p.allow_apps) or (not app and here_app and here_app in p.allow_apps):
            return Assessment("allow", ["the app is on the allow list"])
        target = None
        points = action.points()
        if points and isinstance(inspector, TargetInspector) and action.action not in ("mouse_move", "scroll"):
            target = inspector.text_at(*points[-1 if action.action == "left_click_drag" else 0])
        for label, text in (("the target", target), ("the app to open", app), ("the address", url)):
            if text and self._risky and (m := self._risky.search(text)):
                reasons.append(f"{label} {_clip(text)!r} matches {m.group(0)!r}")
        if not reasons:
            return Assessment("allow", target_text=target)
        return Assessment(p.mode, reasons, target)


def _host(url: str) -> str | None:
    """The host an address names, or None where it names none (empty, local, or not a URL at all)."""
    if not url:
        return None
    try:
        return (urlsplit(url if "://" in url else "https://" + url).hostname or "").lower() or None
    except ValueError:  # e.g. an unbalanced "[" reads as a broken IPv6 literal
        return None


def _domain_in(host: str, domains: list[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
