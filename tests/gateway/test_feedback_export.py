"""From feedback to evaluation data: `make export-eval` writes the answered requests of a window with their
labels, redacted by the gateway's scanners; `make eval` gates an exported set and writes its report."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.gateway import GatewayMiddleware
from tests.gateway.harness import ModelBench, auth, chat_body
from tools.eval_suites import main as eval_main
from tools.export_eval import main as export_main

pytestmark = pytest.mark.anyio


async def test_answers_with_their_feedback_become_a_redacted_evaluation_set(
    client: httpx.AsyncClient, gateway: GatewayMiddleware, bench: ModelBench, tmp_path: Path
) -> None:
    bench.answers["gen-v1"] = "Write to bob@corp.example.org for access."
    rated = await client.post("/v1/chat/completions", json=chat_body(), headers=auth("northwind"))
    unrated = await client.post("/v1/chat/completions", json=chat_body("And the audit log?"), headers=auth("northwind"))
    given = await client.post("/v1/feedback", headers=auth("northwind"), json={
        "response_id": rated.headers["x-request-id"], "rating": -1, "tags": ["wrong_contact"]})
    assert given.status_code == 200
    await gateway.drain()
    config = gateway.runtime.path
    out = tmp_path / "export.jsonl"
    assert export_main(["--config", str(config), "--state-dir", str(tmp_path / "state"), "--hours", "1",
                        "--out", str(out)]) == 0
    rows = {row["request_id"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert set(rows) == {rated.headers["x-request-id"], unrated.headers["x-request-id"]}
    row = rows[rated.headers["x-request-id"]]
    assert row["prompt"] == ["What is the serve config?"] and row["answer"] == ["Write to [EMAIL] for access."]
    assert (row["model_version"], row["route"], row["status"]) == ("gen-v1", "/v1/chat/completions", 200)
    assert row["label"] == {"rating": "bad", "source": "api", "tags": ["wrong_contact"], "correction": None,
                            "ratings": 1}
    assert rows[unrated.headers["x-request-id"]]["label"] is None
    labelled = tmp_path / "labelled.jsonl"
    assert export_main(["--config", str(config), "--state-dir", str(tmp_path / "state"), "--since",
                        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60)), "--labelled-only",
                        "--out", str(labelled)]) == 0
    assert [json.loads(line)["request_id"] for line in labelled.read_text().splitlines()] == [
        rated.headers["x-request-id"]]


def _gates(tmp_path: Path, rows: list[dict[str, Any]], **thresholds: Any) -> Path:
    exported = tmp_path / "set.jsonl"
    exported.write_text("".join(json.dumps(row) + "\n" for row in rows))
    gates = tmp_path / "gates.yaml"
    gates.write_text(json.dumps({"report_dir": str(tmp_path / "reports"), "suites": {
        "exported": {"exported": {"path": str(exported), **thresholds}}}}))
    return gates


def _row(request_id: str, rating: str | None, answer: str = "Run make up.") -> dict[str, Any]:
    label: dict[str, Any] | None = (
        {"rating": rating, "source": "api", "tags": [], "correction": None, "ratings": 1} if rating else None)
    return {"request_id": request_id, "prompt": ["How do I start it?"], "answer": [answer], "label": label}


def test_an_exported_set_passes_its_gate_and_the_report_says_so(tmp_path: Path) -> None:
    gates = _gates(tmp_path, [_row("a", "good"), _row("b", "good"), _row("c", "bad"), _row("d", None)],
                   min_rows=4, min_labelled=3, max_bad_rate=0.5)
    assert eval_main(["exported", "--gates", str(gates)]) == 0
    report = json.loads((tmp_path / "reports" / "exported.json").read_text())
    assert report["score"] == 1.0 and report["candidate"] is None
    assert report["results"][0]["passed"] is True
    assert report["results"][0]["numbers"] == {"rows": 4, "labelled": 3, "bad_rate": 0.3333, "good_rate": 0.6667, "leaks": 0}
    assert "| exported | pass |" in (tmp_path / "reports" / "exported.md").read_text()


@pytest.mark.parametrize(
    ("rows", "thresholds", "reason"),
    [
        ([_row("a", "bad"), _row("b", "good")], {"max_bad_rate": 0.4}, "bad-answer rate 0.500 over 0.4"),
        ([_row("a", "good")], {"min_rows": 2}, "1 rows, fewer than 2"),
        ([_row("a", None)], {"min_labelled": 1}, "0 labelled rows, fewer than 1"),
        ([_row("a", "good", "mail jane.doe@example.com")], {}, "personal data or secrets left in 1 rows: ['a']"),
    ],
)
def test_an_exported_set_below_its_gate_fails(tmp_path: Path, rows: list[dict[str, Any]],
                                              thresholds: dict[str, Any], reason: str) -> None:
    gates = _gates(tmp_path, rows, **thresholds)
    assert eval_main(["exported", "--gates", str(gates)]) == 1
    report = json.loads((tmp_path / "reports" / "exported.json").read_text())
    assert report["score"] == 0.0
    assert report["results"][0]["passed"] is False and report["results"][0]["summary"] == reason


def test_an_unknown_suite_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gates = _gates(tmp_path, [_row("a", "good")])
    assert eval_main(["nope", "--gates", str(gates)]) == 2
    assert capsys.readouterr().err == "error: SUITE: unknown suite 'nope' (known: exported, all)\n"
