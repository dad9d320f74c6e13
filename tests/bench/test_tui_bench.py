"""The TUI benchmark's pure parts: percentiles, verdicts, what it reads in logs (no tmux run)."""

from selchat.bench import tui


def test_percentile_is_nearest_rank():
    values = [float(n) for n in range(1, 21)]
    assert tui.percentile(values, 50) == 10.0
    assert tui.percentile(values, 99) == 20.0
    assert tui.percentile([], 99) is None


def test_a_dropped_client_fails_the_burst_however_fast_and_a_missing_figure_fails():
    results = tui.Results(lines=100_000, burst_seconds=1.0, dropped=True, key_echo_ms=[10.0] * 20,
                          rss_mb=50.0, steady_cpu_percent=10.0, idle_cpu_percent=None)
    verdicts = {name: passed for name, passed, _ in tui.verdicts(results)}
    assert verdicts == {"burst shown completely": False, "key echo p99 during the burst": True,
                        "steady 100 msg/s client CPU": True, "RSS after the burst": True,
                        "idle CPU": False}
    text = tui.report(results)
    assert "FAIL burst shown completely: 1 s (client dropped)" in text
    assert "PASS key echo p99" in text and "FAIL idle CPU: missing" in text


def test_drops_and_skips_are_read_from_the_server_log_and_the_clients_log_file():
    assert tui.dropped("WARNING meas (127.0.0.1) dropped: too slow (output queue full)", "")
    assert tui.dropped("", "2026-12-02 07:00:00 -- not connected, will keep trying: x")
    assert not tui.dropped("INFO flood joined", "2026-12-02 07:00:00 <flood> hi")
    log = ("2026-12-02 07:00:00 -- … 12,345 lines skipped: they came faster … \n"
           "2026-12-02 07:00:01 -- … 7 lines skipped: they came faster … \n")
    assert tui.skipped_lines(log) == 12_352


def test_the_command_line_has_its_defaults():
    args = tui.build_parser().parse_args([])
    assert (args.lines, args.steady_seconds, args.idle_seconds) == (100_000, 10.0, 10.0)


def test_selchat_bench_hands_tui_and_its_options_to_the_tui_bench(monkeypatch):
    from selchat.bench import cli

    seen = []
    monkeypatch.setattr(tui, "main", lambda argv: seen.append(argv) or 7)
    assert cli.main(["tui", "--lines", "5", "--idle-seconds", "1"]) == 7
    assert seen == [["--lines", "5", "--idle-seconds", "1"]]
    assert "tui" in cli.build_parser().format_help()
