"""Snapshot tests of the connected, reconnecting and disconnected screens (no network)."""

import scenes

SIZE = (100, 24)


def test_connected_screen(snap_compare):
    assert snap_compare(scenes.make_app(), terminal_size=SIZE, run_before=scenes.connected_scene)


def test_reconnecting_screen(snap_compare):
    assert snap_compare(scenes.make_app(), terminal_size=SIZE, run_before=scenes.reconnecting_scene)


def test_disconnected_screen(snap_compare):
    assert snap_compare(scenes.make_app(), terminal_size=SIZE, run_before=scenes.disconnected_scene)


def test_connected_screen_on_a_light_theme(snap_compare):
    async def light(pilot):
        pilot.app.theme = "textual-light"
        await scenes.connected_scene(pilot)

    assert snap_compare(scenes.make_app(), terminal_size=SIZE, run_before=light)


def test_reconnecting_screen_at_80_columns(snap_compare):
    assert snap_compare(scenes.make_app(), terminal_size=(80, 24), run_before=scenes.reconnecting_scene)


def test_reconnecting_screen_at_40x10(snap_compare):
    assert snap_compare(scenes.make_app(), terminal_size=(40, 10), run_before=scenes.reconnecting_scene)
