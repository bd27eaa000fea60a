"""Finding an app by the name a model says ("Settings", "chrome", "Google Maps") among installed packages."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping

# Common names to candidate packages (AOSP, Google, a few popular apps). The first installed one wins;
# AndroidSettings.app_names adds to or overrides this.
COMMON_APPS: dict[str, tuple[str, ...]] = {
    "settings": ("com.android.settings",),
    "contacts": ("com.google.android.contacts", "com.android.contacts"),
    "phone": ("com.google.android.dialer", "com.android.dialer"),
    "dialer": ("com.google.android.dialer", "com.android.dialer"),
    "messages": ("com.google.android.apps.messaging", "com.android.messaging", "com.android.mms"),
    "sms": ("com.google.android.apps.messaging", "com.android.messaging"),
    "chrome": ("com.android.chrome",),
    "browser": ("com.android.chrome", "org.mozilla.firefox", "com.android.browser"),
    "camera": ("com.google.android.GoogleCamera", "com.android.camera2", "com.android.camera"),
    "clock": ("com.google.android.deskclock", "com.android.deskclock"),
    "alarm": ("com.google.android.deskclock", "com.android.deskclock"),
    "calendar": ("com.google.android.calendar", "com.android.calendar"),
    "calculator": ("com.google.android.calculator", "com.android.calculator2"),
    "files": ("com.google.android.apps.nbu.files", "com.android.documentsui"),
    "photos": ("com.google.android.apps.photos",),
    "gallery": ("com.google.android.apps.photos", "com.android.gallery3d"),
    "gmail": ("com.google.android.gm",),
    "email": ("com.google.android.gm", "com.android.email"),
    "maps": ("com.google.android.apps.maps",),
    "google maps": ("com.google.android.apps.maps",),
    "youtube": ("com.google.android.youtube",),
    "play store": ("com.android.vending",),
    "google play": ("com.android.vending",),
    "keep": ("com.google.android.keep",),
    "notes": ("com.google.android.keep",),
    "recorder": ("com.google.android.apps.recorder", "com.android.soundrecorder"),
}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def resolve_app(name: str, installed: Iterable[str], extra: Mapping[str, str] | None = None) -> str | None:
    """The package to open for `name`, or None. Order: user map, common names, a package name given
    as is, then a package whose last part is the name ("notes" -> org.simphone.notes)."""
    pkgs = list(installed)
    have = set(pkgs)
    key = _norm(name)
    for user_name, pkg in (extra or {}).items():
        if _norm(user_name) == key:
            return pkg
    for pkg in COMMON_APPS.get(key, ()):
        if pkg in have:
            return pkg
    if name.strip() in have:
        return name.strip()
    compact = key.replace(" ", "")
    tails = [p for p in pkgs if p.rsplit(".", 1)[-1].lower() == compact]
    if len(tails) == 1:
        return tails[0]
    parts = [p for p in pkgs if compact and compact in p.lower().replace(".", " ").split()]
    return parts[0] if len(parts) == 1 else None


def close_matches(name: str, installed: Iterable[str], extra: Mapping[str, str] | None = None) -> list[str]:
    """Names a user may have meant, for the error message."""
    pkgs = list(installed)
    have = set(pkgs)
    names = {k for k, cands in COMMON_APPS.items() if have.intersection(cands)}
    names |= {_norm(k) for k in (extra or {})}
    names |= {p.rsplit(".", 1)[-1].lower() for p in pkgs}
    hits = difflib.get_close_matches(_norm(name), sorted(names), n=5, cutoff=0.6)
    hits += difflib.get_close_matches(name.strip().lower(), pkgs, n=3, cutoff=0.6)
    return list(dict.fromkeys(hits))
