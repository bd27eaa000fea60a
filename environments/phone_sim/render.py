"""Drawing the phone's screen with PIL, encoding it as `screencap` does, and the `uiautomator dump` XML."""

from __future__ import annotations

import io
import os
import struct
from functools import lru_cache
from xml.sax.saxutils import escape

from PIL import Image, ImageDraw, ImageFont

from environments.phone_sim.apps import Widget, build, layout_units
from environments.phone_sim.state import PhoneState, app_by_package

# In order of preference; PIL draws a string in one font, so a string takes the first that has all its
# characters (Latin in DejaVu, Chinese in a CJK font: Debian's fonts-wqy-zenhei, which scripts/install.sh
# installs, or fonts-noto-cjk).
_FONT_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
               "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
               "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
               "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
               "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
MISSING = "\U0010fffd"  # a private-use character no font draws: what a font's "missing glyph" box looks like
BG, FG, MUTED, ACCENT = (250, 250, 250), (33, 33, 33), (117, 117, 117), (26, 115, 232)


@lru_cache(maxsize=1)
def installed_fonts() -> tuple[str, ...]:
    return tuple(p for p in _FONT_PATHS if os.path.exists(p))


@lru_cache(maxsize=64)
def _truetype(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def glyph(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, char: str) -> bytes:
    """The pixels `font` draws for `char` on a small canvas."""
    img = Image.new("L", (64, 64))
    ImageDraw.Draw(img).text((8, 8), char, fill=255, font=font)
    return img.tobytes()


@lru_cache(maxsize=8192)
def _draws(path: str, char: str) -> bool:
    """Whether the font has a glyph for `char`: one that is not its missing-glyph box."""
    font = _truetype(path, 24)
    return glyph(font, char) != glyph(font, MISSING)


def font_for(size: int, text: str) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The installed font that draws most of `text`'s characters, the earliest of them on a tie."""
    fonts = installed_fonts()
    if not fonts:
        return ImageFont.load_default(size)  # Pillow's built-in font: no system fonts installed
    chars = {c for c in text if c.isprintable() and not c.isspace()}  # what a font could lack a glyph for
    return _truetype(max(fonts, key=lambda p: sum(_draws(p, c) for c in chars)), size)


_cache: dict[int, tuple[tuple[int, int, int], Image.Image]] = {}


def render(state: PhoneState) -> Image.Image:
    """The current screen as an RGB image of `state.size`; cached until the state changes."""
    key = (state.version, *state.size)
    hit = _cache.get(id(state))
    if hit and hit[0] == key:
        return hit[1]
    w, h, s = layout_units(state)
    if state.secure_window:
        img = Image.new("RGB", (w, h), (0, 0, 0))
    else:
        img = Image.new("RGB", (w, h), BG)
        d = ImageDraw.Draw(img)
        _status_bar(d, state, w, s)
        for widget in build(state):
            _draw(d, widget, state, s)
    _cache[id(state)] = (key, img)
    return img


def _status_bar(d: ImageDraw.ImageDraw, state: PhoneState, w: int, s: float) -> None:
    d.rectangle((0, 0, w, int(80 * s)), fill=(240, 240, 240))
    g = state.settings["global"]
    right = "  ".join(x for x in ("✈" if g.get("airplane_mode_on") == "1" else "",
                                  "Wi-Fi" if g.get("wifi_on") == "1" else "",
                                  "BT" if g.get("bluetooth_on") == "1" else "", "100%") if x)
    f = font_for(max(8, int(38 * s)), state.clock + right)
    d.text((int(40 * s), int(18 * s)), state.clock, fill=FG, font=f)
    tw = d.textlength(right, font=f)
    d.text((w - tw - int(40 * s), int(18 * s)), right, fill=FG, font=f)


def _draw(d: ImageDraw.ImageDraw, wd: Widget, state: PhoneState, s: float) -> None:
    l, t, r, b = wd.bounds
    f = font_for(max(8, int(44 * s)), wd.text + wd.hint)
    mid = (t + b) // 2
    pad = int(48 * s)
    if wd.kind == "text":
        big = wd.rid.endswith("title") or wd.rid.endswith("clock")
        ft = font_for(max(8, int((64 if big else 44) * s)), wd.text)
        d.text((l + pad, mid), wd.text, fill=FG, font=ft, anchor="lm")
    elif wd.kind == "icon":
        app = app_by_package(wd.action.split(":", 1)[1]) if wd.action else None
        size = int(150 * s)
        cx = (l + r) // 2
        d.rounded_rectangle((cx - size // 2, t, cx + size // 2, t + size), radius=int(36 * s),
                            fill=app.colour if app else ACCENT)
        d.text((cx, t + size // 2), wd.text[:1], fill=(255, 255, 255), font=font_for(max(8, int(80 * s)), wd.text[:1]),
               anchor="mm")
        d.text((cx, t + size + int(45 * s)), wd.text, fill=FG, font=font_for(max(8, int(36 * s)), wd.text), anchor="mm")
    elif wd.kind == "item":
        d.line((l + pad, b, r - pad, b), fill=(224, 224, 224), width=max(1, int(2 * s)))
        d.text((l + pad, mid), wd.text, fill=FG, font=f, anchor="lm")
    elif wd.kind == "switch":
        d.text((l + pad, mid), wd.text, fill=FG, font=f, anchor="lm")
        sw, sh = int(130 * s), int(64 * s)
        box = (r - pad - sw, mid - sh // 2, r - pad, mid + sh // 2)
        d.rounded_rectangle(box, radius=sh // 2, fill=ACCENT if wd.checked else (189, 189, 189))
        knob = box[2] - sh if wd.checked else box[0]
        d.ellipse((knob + 4, box[1] + 4, knob + sh - 4, box[3] - 4), fill=(255, 255, 255))
    elif wd.kind == "slider":
        d.text((l, t + int(10 * s)), wd.text, fill=FG, font=f)
        y = b - int(50 * s)
        d.line((l, y, r, y), fill=(189, 189, 189), width=max(2, int(8 * s)))
        x = l + int((r - l - 1) * wd.value)
        d.line((l, y, x, y), fill=ACCENT, width=max(2, int(8 * s)))
        k = int(28 * s)
        d.ellipse((x - k, y - k, x + k, y + k), fill=ACCENT)
    elif wd.kind == "button":
        d.rounded_rectangle((l, t, r, b), radius=int(30 * s), fill=ACCENT)
        d.text(((l + r) // 2, mid), wd.text, fill=(255, 255, 255), font=f, anchor="mm")
    elif wd.kind == "field":
        focused = state.focused == wd.rid
        d.rectangle((l, t, r, b), outline=ACCENT if focused else (158, 158, 158), width=max(1, int(4 * s)))
        shown = wd.text or wd.hint
        colour = FG if wd.text else MUTED
        text = shown + ("|" if focused else "")
        d.multiline_text((l + int(24 * s), t + int(40 * s)), text if wd.multiline else text.replace("\n", " "),
                         fill=colour, font=f)
    elif wd.kind == "nav":
        cx, cy, k = (l + r) // 2, mid, int(26 * s)
        shape = {"Back": "back", "Home": "home"}.get(wd.desc, "recents")
        if shape == "back":
            d.polygon([(cx + k, cy - k), (cx + k, cy + k), (cx - k, cy)], outline=MUTED, width=max(1, int(4 * s)))
        elif shape == "home":
            d.ellipse((cx - k, cy - k, cx + k, cy + k), outline=MUTED, width=max(1, int(4 * s)))
        else:
            d.rectangle((cx - k, cy - k, cx + k, cy + k), outline=MUTED, width=max(1, int(4 * s)))


def screencap_raw(state: PhoneState) -> bytes:
    """What `screencap` (no -p) writes: width, height, format (1 = RGBA_8888), colour space, pixels."""
    img = render(state).convert("RGBA")
    w, h = img.size
    return struct.pack("<4I", w, h, 1, 1) + img.tobytes()


def screencap_png(state: PhoneState) -> bytes:
    buf = io.BytesIO()
    render(state).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _attr(value: str) -> str:
    # XML parsers turn raw tabs and newlines in attributes into spaces; character references survive.
    return escape(value, {'"': "&quot;", "\n": "&#10;", "\t": "&#9;", "\r": "&#13;"})


def hierarchy_xml(state: PhoneState) -> str:
    """A `uiautomator dump` document: one FrameLayout holding a node per widget."""
    w, h = state.size
    pkg = state.top.package
    nodes = []
    for i, wd in enumerate(build(state)):
        l, t, r, b = wd.bounds
        text = wd.text if wd.kind not in ("field",) or wd.text else wd.hint
        node_pkg = "com.android.systemui" if wd.kind == "nav" else pkg
        nodes.append(
            f'<node index="{i}" text="{_attr(text)}" resource-id="{_attr(wd.rid)}" class="{wd.android_class}" '
            f'package="{node_pkg}" content-desc="{_attr(wd.desc)}" checkable="{str(wd.checked is not None).lower()}" '
            f'checked="{str(bool(wd.checked)).lower()}" clickable="{str(bool(wd.action)).lower()}" enabled="true" '
            f'focusable="{str(wd.kind == "field").lower()}" focused="{str(state.focused == wd.rid).lower()}" '
            f'scrollable="false" long-clickable="{str(bool(wd.long_action)).lower()}" password="false" '
            f'selected="false" bounds="[{l},{t}][{r},{b}]" />')
    return ("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>"
            f'<hierarchy rotation="{state.rotation}"><node index="0" text="" resource-id="" '
            f'class="android.widget.FrameLayout" package="{pkg}" content-desc="" checkable="false" checked="false" '
            'clickable="false" enabled="true" focusable="false" focused="false" scrollable="false" '
            'long-clickable="false" password="false" selected="false" '
            f'bounds="[0,0][{w},{h}]">{"".join(nodes)}</node></hierarchy>')
