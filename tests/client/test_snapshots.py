"""Snapshot tests of the connected, reconnecting and disconnected screens (no network)."""

import scenes

SIZE = (100, 24)


def test_connected_screen(snap_compare):
    assert snap_compare(scenes.make_app(), terminal_size=SIZE, run_before=scenes.connected_scene)


def test_reconnecting_screen(snap_compare):
    assert snap_compare(scenes.make_app(), terminal_size=SIZE, run_before=scenes.reconnecting_scene)


def test_disconnected_screen(snap_compare):
    assert snap_compare(scenes.make_app(), terminal_size=SIZE, run_before=scenes.disconnected_scene)
