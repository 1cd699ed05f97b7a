"""The summary table and the failed-check list a rehearsal ends with."""

from __future__ import annotations

from platform_facts import project
from tools.rehearse.drill import classify
from tools.rehearse.summary import ClusterReport, failed_checks, format_table, percentile


def test_percentile_is_nearest_rank() -> None:
    values = [0.1 * n for n in range(1, 101)]
    assert percentile(values, 0.5) == values[49]
    assert percentile(values, 0.99) == values[98]
    assert percentile([], 0.5) is None


def test_table_has_one_row_per_cluster_and_the_failures_are_named() -> None:
    good = ClusterReport("prod", "regulated", latencies_s=[0.010, 0.020, 0.030], ready_s=95.4)
    good.record("openai: chat", True)
    bad = ClusterReport("prod", "public")
    bad.record("openai: chat", True)
    bad.record("canary split within tolerance", False, "v1: 50% of 60 answers")
    table = format_table([good, bad]).splitlines()
    assert table[0].split("|")[1:-1] == [
        " environment ", " cluster   ", " passed ", " failed ", " p50   ", " p99   ", " ready in "
    ]
    assert [cell.strip() for cell in table[2].split("|")[1:-1]] == ["prod", "regulated", "1", "0", "20 ms", "30 ms", "95 s"]
    assert [cell.strip() for cell in table[3].split("|")[1:-1]] == ["prod", "public", "1", "1", "-", "-", "-"]
    assert failed_checks([good, bad]) == ["prod/public: canary split within tolerance: v1: 50% of 60 answers"]


def test_drill_classifies_marked_degraded_answers_as_accounted() -> None:
    assert classify(200, {}) == "answered"
    assert classify(503, {f"x-{project.PROJECT_NAME}-degraded": "fallback"}) == "degraded"
    assert classify(500, {}) == "lost"
    assert classify(None, {"error": "ConnectError"}) == "lost"


def test_a_check_that_raises_fails_itself_only_and_names_the_error() -> None:
    report = ClusterReport("staging", "public")

    def broken() -> str:
        raise ConnectionError("gateway went away")

    assert report.check("openai: chat", lambda: "") == ""
    assert report.check("RAG query", broken) == "ConnectionError: gateway went away"
    assert report.check("metrics scrapeable", lambda: "no gateway metrics") == "no gateway metrics"
    assert [(c.name, c.ok) for c in report.checks] == [
        ("openai: chat", True), ("RAG query", False), ("metrics scrapeable", False)]
    assert (report.passed, len(report.failed)) == (1, 2)
