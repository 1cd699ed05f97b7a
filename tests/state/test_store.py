"""The state store against SQLite and a real PostgreSQL server (the `store` fixture runs each test on both)."""

from __future__ import annotations

import threading
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from platform_facts import project
from services.state import ItemAlreadyDecided, ItemNotFound, ResponseRow, ShadowComparisonRow, StateStore
from services.state.database import iam_token_password
from services.state.models import Base


def _response(request_id: str, tenant: str = "northwind", version: str = "gen-v1", **fields: object) -> ResponseRow:
    values: dict[str, object] = {
        "request_id": request_id, "created": time.time(), "tenant": tenant, "route": "/v1/chat/completions",
        "model_version": version, "status": 200, "latency_ms": 12.5, "flagged": False, "blocked": False,
        "prompt": [f"what is {project.PROJECT_NAME}?"], "answer": ["a platform"], "passage_ids": [],
    }
    values.update(fields)
    return ResponseRow(**values)


def test_migrations_build_exactly_the_models_schema(store: StateStore) -> None:
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_opening_again_is_a_no_op_and_keeps_rows(store_url: str) -> None:
    first = StateStore.open(store_url)
    item = first.reviews.enqueue("northwind", "/v1/chat/completions", "fallback", "req-1", {"prompt": ["hi"]})
    first.close()
    again = StateStore.open(store_url)
    assert again.reviews.get(item).request_id == "req-1"
    again.close()


def test_review_items_are_shared_by_replicas_and_survive_a_restart(store_url: str) -> None:
    replica_a, replica_b = StateStore.open(store_url), StateStore.open(store_url)
    queued = [replica_a.reviews.enqueue("northwind", "/v1/chat/completions", "flagged_output", f"req-{n}",
                                        {"prompt": [f"question {n}"], "answer": ["..."]}) for n in range(5)]
    assert [item.id for item in replica_b.reviews.list("pending", 100)] == queued
    replica_a.close()  # replica A restarts: nothing it queued is lost
    restarted = StateStore.open(store_url)
    decided = replica_b.reviews.decide(queued[0], "approved", "key-reviewer", "fine", None)
    assert decided.status == "approved" and decided.decided_by == "key-reviewer"
    assert [item.id for item in restarted.reviews.list("pending", 100)] == queued[1:]
    assert restarted.reviews.get(queued[0]).status == "approved"
    restarted.close()
    replica_b.close()


def test_an_item_is_decided_once_even_when_reviewers_race(store_url: str) -> None:
    stores = [StateStore.open(store_url) for _ in range(4)]
    item = stores[0].reviews.enqueue("northwind", "/v1/chat/completions", "fallback", "req-race", {"prompt": ["x"]})
    outcomes: list[str] = []

    def decide(store: StateStore, decision: str) -> None:
        try:
            store.reviews.decide(item, decision, "key", "", None)
            outcomes.append("won")
        except ItemAlreadyDecided:
            outcomes.append("already")

    threads = [threading.Thread(target=decide, args=(store, decision))
               for store, decision in zip(stores, ["approved", "rejected", "approved", "rejected"], strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["already", "already", "already", "won"]
    assert len(stores[0].responses.feedback_for(["req-race"])["req-race"]) == 1
    for store in stores:
        store.close()


def test_deciding_an_unknown_or_decided_item_is_refused(store: StateStore) -> None:
    with pytest.raises(ItemNotFound, match="no review item 'nope'"):
        store.reviews.decide("nope", "approved", "key", "", None)
    item = store.reviews.enqueue("northwind", "/v1/chat/completions", "fallback", "req-1", {"prompt": ["x"]})
    store.reviews.decide(item, "rejected", "key", "", None)
    with pytest.raises(ItemAlreadyDecided, match="is already rejected"):
        store.reviews.decide(item, "approved", "key", "", None)
    with pytest.raises(ValueError, match="edited_answer: required"):
        store.reviews.decide(item, "edited", "key", "", None)


def test_review_decisions_are_feedback_on_the_reviewed_response(store: StateStore) -> None:
    store.responses.add_many([_response("req-a", version="gen-v2"), _response("req-b", version="gen-v2")])
    approved = store.reviews.enqueue("northwind", "/v1/chat/completions", "flagged_output", "req-a", {})
    edited = store.reviews.enqueue("northwind", "/v1/chat/completions", "flagged_output", "req-b", {})
    store.reviews.decide(approved, "approved", "key-r", "", None)
    store.reviews.decide(edited, "edited", "key-r", "", "the corrected answer")
    feedback = store.responses.feedback_for(["req-a", "req-b"])
    assert [(row.rating, row.source, row.tags, row.model_version) for row in feedback["req-a"]] == [
        (1, "review", ["review:approved"], "gen-v2")]
    assert [(row.rating, row.correction) for row in feedback["req-b"]] == [(0, "the corrected answer")]


def test_feedback_is_scoped_to_the_tenant_that_was_answered(store: StateStore) -> None:
    store.responses.add_many([_response("req-northwind", tenant="northwind"), _response("req-bank", tenant="bank")])
    row = store.responses.add_feedback("req-northwind", "northwind", 1, None, ["helpful"], "key-northwind")
    assert (row.model_version, row.tags, row.source) == ("gen-v1", ["helpful"], "api")
    with pytest.raises(ItemNotFound, match="no response 'req-bank'"):
        store.responses.add_feedback("req-bank", "northwind", -1, None, [], "key-northwind")
    with pytest.raises(ItemNotFound, match="no response 'req-unknown'"):
        store.responses.add_feedback("req-unknown", "northwind", -1, None, [], "key-northwind")


def test_a_retried_batch_of_responses_is_written_once(store: StateStore) -> None:
    batch = [_response("req-1"), _response("req-2")]
    store.responses.add_many(batch)
    store.responses.add_many([_response("req-2", status=500), _response("req-3")])
    rows = store.responses.window(0, time.time() + 1)
    assert [(row.request_id, row.status) for row in rows] == [("req-1", 200), ("req-2", 200), ("req-3", 200)]


def test_feedback_scores_per_model_version(store: StateStore) -> None:
    store.responses.add_many([_response(f"req-{n}", version="gen-v1" if n < 3 else "gen-v2") for n in range(5)])
    for n, rating in enumerate([1, 1, -1, -1, -1]):
        store.responses.add_feedback(f"req-{n}", "northwind", rating, None, [], "key")
    scores = {score.model_version: (score.count, round(score.mean_rating, 3))
              for score in store.responses.feedback_scores(since=0)}
    assert scores == {"gen-v1": (3, 0.333), "gen-v2": (2, -1.0)}


def test_shadow_agreement_rate(store: StateStore) -> None:
    for outcome in ["agree", "agree", "differ", "error"]:
        store.shadow.add(ShadowComparisonRow(
            created=time.time(), request_id="r", route="/v1/chat/completions", primary_version="gen-v1",
            candidate="gen-v2", outcome=outcome, similarity=None, status=200, error=None, latency_ms=1.0, answer=[]))
    agreement = store.shadow.agreement("gen-v2", since=0)
    assert (agreement.count, agreement.agreeing, agreement.rate) == (4, 2, 0.5)
    assert store.shadow.agreement("other", since=0).count == 0
    assert [row.outcome for row in store.shadow.recent(2)] == ["error", "differ"]


def test_promotion_state_and_decisions(store: StateStore) -> None:
    started = store.promotions.start("chat", "gen-v1", "gen-v2", [5, 25, 50, 100], "started", {"eval_score": 0.9})
    assert (started.state, started.weight, started.step_index) == ("running", 5.0, 0)
    moved = store.promotions.move("chat", state="running", weight=25, step_index=1, reason="gates held", new_step=True,
                                  action="advance", measurements={"error_rate": 0.0})
    assert moved.weight == 25 and moved.step_started >= started.step_started
    store.promotions.record_decision("chat", "gen-v2", "hold", 25, "waiting", {})
    assert [(d.action, d.weight, d.measurements) for d in store.promotions.decisions("chat")] == [
        ("start", 5.0, {"eval_score": 0.9}), ("advance", 25.0, {"error_rate": 0.0}), ("hold", 25.0, {})]
    with pytest.raises(ItemNotFound):
        store.promotions.move("embeddings", state="paused", weight=0, step_index=0, reason="")


def test_one_leader_holds_the_lease_until_it_expires(store_url: str) -> None:
    replica_a, replica_b = StateStore.open(store_url), StateStore.open(store_url)
    assert replica_a.promotions.hold_lease("promotion", "a", ttl_s=0.3)
    assert not replica_b.promotions.hold_lease("promotion", "b", ttl_s=0.3)
    assert replica_a.promotions.hold_lease("promotion", "a", ttl_s=0.3)  # renewal
    time.sleep(0.35)
    assert replica_b.promotions.hold_lease("promotion", "b", ttl_s=0.3)  # a stopped renewing: b takes over
    assert not replica_a.promotions.hold_lease("promotion", "a", ttl_s=0.3)
    replica_b.promotions.release_lease("promotion", "b")
    assert replica_a.promotions.hold_lease("promotion", "a", ttl_s=0.3)
    replica_a.close()
    replica_b.close()


def test_rds_iam_authentication_logs_in_with_a_fresh_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The token is signed locally by boto3 (no AWS call); what matters is that it becomes the password."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    hook = iam_token_password("eu-west-1")
    user = f"{project.METRIC_PREFIX}_gateway"
    params: dict[str, object] = {"host": "state.abc.eu-west-1.rds.amazonaws.com", "port": 5432,
                                 "user": user, "dbname": project.METRIC_PREFIX}
    hook(None, None, (), params)
    token = str(params["password"])
    assert token.startswith(f"state.abc.eu-west-1.rds.amazonaws.com:5432/?Action=connect&DBUser={user}")
    assert "X-Amz-Signature=" in token and params["sslmode"] == "require"
