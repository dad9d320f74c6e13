"""Nick colours and readable text on every theme: pure colour arithmetic, no app."""

import pytest
from textual.theme import BUILTIN_THEMES

from selchat.client import palette

# Backgrounds the review measured (textual-dark, textual-light, solarized-light, catppuccin-latte),
# the extremes, and a mid grey where neither black nor white is far ahead.
MEASURED = ["#121212", "#E0E0E0", "#FDF6E3", "#EFF1F5", "#000000", "#FFFFFF", "#777777"]
THEME_BACKGROUNDS = sorted({
    str(BUILTIN_THEMES[name].to_color_system().generate()[part])
    for name in BUILTIN_THEMES for part in ("background", "surface", "panel")
} - {"ansi_default", "transparent"})  # textual-ansi leaves colours to the terminal
NICKS = ["alice", "bob", "carol", "dave", "dave_away", "Boris", "rob2", "robert", "meas", "x",
         "a-very-long-nick", "Ωμέγα", "zoë", "guest42"] + [f"user{n}" for n in range(40)]


def test_wcag_contrast_known_values():
    assert palette.contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert palette.contrast((18, 18, 18), (18, 18, 18)) == pytest.approx(1.0)
    # #777 on white is the well-known near miss of 4.48:1
    assert palette.contrast(palette.parse_hex("#777777"), (255, 255, 255)) == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("background", MEASURED + THEME_BACKGROUNDS)
def test_every_nick_reads_on_every_background(background):
    bg = palette.parse_hex(background)
    for nick in NICKS:
        colour = palette.parse_hex(palette.nick_colour(nick, background))
        assert palette.contrast(colour, bg) >= 4.5, (nick, background)


def test_the_old_fixed_colours_failed_on_light_themes():
    # The hard-coded palette this replaces, to show the test above has teeth.
    old = ["#5fafff", "#5fd75f", "#d7af5f", "#af87ff", "#5fd7d7", "#ff87d7", "#87d700", "#ffaf00"]
    light = palette.parse_hex("#E0E0E0")
    assert all(palette.contrast(palette.parse_hex(c), light) < 4.5 for c in old)
    assert all(palette.contrast(palette.readable(palette.parse_hex(c), light), light) >= 4.5
               for c in old)


def test_nick_colours_are_stable_and_varied():
    assert palette.nick_colour("alice", "#121212") == palette.nick_colour("alice", "#121212")
    assert palette.nick_colour("Alice", "#E0E0E0") == palette.nick_colour("alice", "#E0E0E0")
    for background in ("#121212", "#E0E0E0"):
        assert len({palette.nick_colour(nick, background) for nick in NICKS}) >= 8


def test_a_readable_colour_is_left_alone_and_a_fix_keeps_the_hue():
    dark = (18, 18, 18)
    assert palette.readable((95, 175, 255), dark) == (95, 175, 255)
    fixed = palette.readable((255, 175, 0), palette.parse_hex("#FDF6E3"))
    r, g, b = fixed
    assert r > g > b  # still an orange, only darker
