"""Property-based checks: no input crashes a scanner, and redaction never leaks what it found."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.scanners import Action, ScannerPipeline, ScannersConfig

PIPELINE = ScannerPipeline.from_config(
    ScannersConfig(
        on_error="fail_closed", system_prompt="You are a careful assistant that never shares the launch codes."
    )
)
SECRETS = st.sampled_from(
    [
        "AKIA2OGYBAH6STMMNXNN",
        "ghp_R8mZ2kLq9XvT4nB7wY1cP6sD3fH0jG5aUe2K",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "jane.roe@example.com",
        "4111 1111 1111 1111",
        "DE89 3704 0044 0532 0130 00",
    ]
)
PROSE = st.text(alphabet=st.characters(categories=["L", "N", "Zs"]), max_size=60)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_unicode_never_crashes_or_errors(text: str) -> None:
    for result in (PIPELINE.scan_input(text), PIPELINE.scan_output(text)):
        assert result.errors == ()
        assert isinstance(result.text, str)
        if result.action is Action.ALLOW:
            assert result.text == text


@settings(max_examples=100, deadline=None)
@given(PROSE, SECRETS, PROSE)
def test_redacted_output_never_contains_the_secret(before: str, secret: str, after: str) -> None:
    text = f"{before} {secret} {after}"
    result = PIPELINE.scan_output(text)
    assert secret not in result.text
    assert len(result.text) <= len(text) + 20


@settings(max_examples=60, deadline=None)
@given(PROSE, SECRETS, PROSE, st.lists(st.integers(min_value=1, max_value=200), max_size=8))
def test_streamed_output_never_releases_the_secret(before: str, secret: str, after: str, cuts: list[int]) -> None:
    text = f"{before} {secret} {after}"
    scanner = PIPELINE.output_stream()
    released = []
    for start, end in zip([0, *sorted(cuts)], [*sorted(cuts), len(text)], strict=False):
        released.append(scanner.feed(text[start:end]).new_text)
    released.append(scanner.finish().new_text)
    assert secret not in "".join(released)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_findings_lie_inside_the_text(text: str) -> None:
    for verdict in PIPELINE.scan_input(text).verdicts:
        for finding in verdict.findings:
            assert 0 <= finding.start <= finding.end <= len(text)
            assert 0.0 <= finding.score <= 1.0
