"""Readable colours on any theme: WCAG contrast, and nick colours that follow the background.

Pure colour arithmetic on `(r, g, b)` triples of 0-255 and `#rrggbb` strings, no terminal and no
Textual, so it is tested without an app.  A nick keeps its hue (the same in every client and every
run: crc32, not `hash()`); only its lightness moves until it stands out from the background by at
least `MIN_CONTRAST`, the WCAG AA level for text.  That works on every background: any colour
has a contrast of at least 4.58 with black or with white, and lightness 0 and 1 are black and white.
"""

from __future__ import annotations

import colorsys
import zlib
from functools import lru_cache

RGB = tuple[int, int, int]

MIN_CONTRAST = 4.5
# Hues in degrees, spread round the wheel; red (0) is left out so errors stand alone.
NICK_HUES = (30, 55, 80, 120, 150, 175, 195, 215, 240, 265, 290, 315)
NICK_SATURATION = 0.75
# Every nick starts light and bright (it reads on dark themes as it is) and is darkened only as
# far as a light background needs, so the log, which makes any colour readable the same way,
# and the user list agree on a nick's colour.
NICK_LIGHTNESS = 0.68


def parse_hex(colour: str) -> RGB:
    """`#rrggbb` (or `rrggbb`) as a triple."""
    digits = colour.lstrip("#")
    if len(digits) != 6:
        raise ValueError(f"not a #rrggbb colour: {colour!r}")
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def to_hex(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def relative_luminance(rgb: RGB) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio, 1 (none) to 21 (black on white)."""
    la, lb = relative_luminance(a), relative_luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def is_dark(background: RGB) -> bool:
    """Whether light text reads better than dark text on `background`."""
    return contrast(background, (255, 255, 255)) >= contrast(background, (0, 0, 0))


def _from_hls(hue: float, lightness: float, saturation: float) -> RGB:
    r, g, b = colorsys.hls_to_rgb(hue, lightness, saturation)
    return round(r * 255), round(g * 255), round(b * 255)


@lru_cache(maxsize=4096)
def readable(colour: RGB, background: RGB, minimum: float = MIN_CONTRAST) -> RGB:
    """`colour`, or the nearest colour of the same hue and saturation that reads on `background`.

    Lightness moves away from the background (up on dark ones, down on light ones) in small
    steps, so a colour that already reads is returned unchanged and one that does not changes
    as little as it must.
    """
    if contrast(colour, background) >= minimum:
        return colour
    hue, lightness, saturation = colorsys.rgb_to_hls(*(c / 255 for c in colour))
    step = 0.02 if is_dark(background) else -0.02
    while 0.0 <= lightness <= 1.0:
        lightness += step
        candidate = _from_hls(hue, min(1.0, max(0.0, lightness)), saturation)
        if contrast(candidate, background) >= minimum:
            return candidate
    return (255, 255, 255) if step > 0 else (0, 0, 0)


def nick_hue(nick: str) -> int:
    """The nick's hue in degrees: the same in every run and every client."""
    return NICK_HUES[zlib.crc32(nick.casefold().encode()) % len(NICK_HUES)]


def nick_base(nick: str) -> RGB:
    """The nick's colour before any background is considered."""
    return _from_hls(nick_hue(nick) / 360, NICK_LIGHTNESS, NICK_SATURATION)


def nick_rgb(nick: str, background: RGB) -> RGB:
    return readable(nick_base(nick), background)


def nick_colour(nick: str, background: str = "#121212") -> str:
    """`#rrggbb` for `nick` on `background` (`#rrggbb`), with contrast of at least 4.5:1.

    The default background is textual-dark's, for callers that have no widget to ask.
    """
    return to_hex(nick_rgb(nick, parse_hex(background)))
