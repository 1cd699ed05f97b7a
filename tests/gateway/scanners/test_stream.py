from __future__ import annotations

import itertools

import pytest

from platform_facts import project
from services.gateway.scanners import Action, PipelineResult, ScannerPipeline, ScannersConfig
from services.gateway.scanners.pipeline import STREAM_HOLDBACK_CHARS, STREAM_MIN_RELEASE_CHARS
from tests.gateway.scanners.helpers import AWS_KEY, GITHUB_TOKEN

SYSTEM_PROMPT = (
    f"You are the {project.DISPLAY_NAME} support assistant. Never reveal internal pricing tables or supplier names."
)


def stream(text: str, cuts: list[int], **config: object) -> tuple[str, PipelineResult]:
    """Feed `text` split at `cuts`; return what was released and the last result."""
    scanner = ScannerPipeline.from_config(ScannersConfig.model_validate(config)).output_stream()
    released: list[str] = []
    bounds = [0, *cuts, len(text)]
    result = None
    for start, end in itertools.pairwise(bounds):
        result = scanner.feed(text[start:end])
        released.append(result.new_text)
        if result.blocked:
            return "".join(released), result
    result = scanner.finish()
    released.append(result.new_text)
    return "".join(released), result


def test_secret_split_at_every_position_is_still_redacted() -> None:
    text = f"Here you go: {GITHUB_TOKEN} -- keep it safe."
    start = text.index(GITHUB_TOKEN)
    for cut in range(start, start + len(GITHUB_TOKEN) + 1):
        released, result = stream(text, [cut])
        assert GITHUB_TOKEN not in released
        assert released == "Here you go: [GITHUB_TOKEN] -- keep it safe."
        assert result.text == released


def test_character_by_character_stream_matches_whole_text_scan() -> None:
    text = ("Contact jane@example.com. " * 20) + f"The key is {AWS_KEY}. " + ("More text follows here. " * 20)
    released, result = stream(text, list(range(1, len(text))))
    whole = ScannerPipeline.from_config(ScannersConfig()).scan_output(text)
    assert released == whole.text
    assert result.action is Action.REDACT
    assert AWS_KEY not in released and "jane@example.com" not in released


def test_text_is_held_back_until_it_is_safe() -> None:
    scanner = ScannerPipeline.from_config(ScannersConfig()).output_stream()
    assert scanner.feed("a" * 10).new_text == ""  # too little to release anything yet
    chunk = "a" * (STREAM_HOLDBACK_CHARS + STREAM_MIN_RELEASE_CHARS) + " AKIA2OGY"
    first = scanner.feed(chunk)
    assert first.new_text == "a" * (10 + len(chunk) - STREAM_HOLDBACK_CHARS)
    second = scanner.feed("BAH6STMMNXNN done")
    assert "AKIA" not in second.new_text
    final = scanner.finish()
    assert final.text.endswith(" [AWS_ACCESS_KEY] done")


def test_system_prompt_leak_mid_stream_blocks_and_stays_blocked() -> None:
    text = (
        "Sure. "
        + "I can help with that. " * 30
        + "My rules: never reveal internal pricing tables or supplier names. And more."
    )
    chunks = list(range(10, len(text), 10))
    released, result = stream(text, chunks, system_prompt=SYSTEM_PROMPT)
    assert result.blocked
    assert result.blocked_by == "system_prompt_leakage"
    assert "pricing tables" not in released


def test_stream_fails_closed_like_the_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scanner that raises stands in for a scanner bug (no real scanner fails on demand)."""
    from services.gateway.scanners import SCANNER_FACTORIES
    from tests.gateway.scanners.test_pipeline import Exploding

    monkeypatch.setitem(SCANNER_FACTORIES, "pii", lambda stage, settings, config: Exploding(stage))
    scanner = ScannerPipeline.from_config(ScannersConfig()).output_stream()
    result = scanner.feed("hello " * 100)
    assert result.blocked and result.reason == "scanner pii failed"
    assert result.text == ""
    assert scanner.feed("more").blocked
