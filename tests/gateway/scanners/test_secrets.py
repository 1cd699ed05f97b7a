from __future__ import annotations

import pytest

from services.gateway.scanners import Action
from services.gateway.scanners.secrets import API_KEY_KIND, is_placeholder
from tests.gateway.scanners.helpers import AWS_KEY, GITHUB_TOKEN, scanner

secrets = scanner("secrets")


@pytest.mark.parametrize(
    ("text", "kind", "secret"),
    [
        (f"aws key {AWS_KEY} in prod", "aws_access_key", AWS_KEY),
        (f"export GITHUB_TOKEN={GITHUB_TOKEN}", "github_token", GITHUB_TOKEN),
        ("glpat-Xk3mP9qR2sT5vW8yZ1bC", "gitlab_token", "glpat-Xk3mP9qR2sT5vW8yZ1bC"),
        (
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc and more",
            "stripe_key",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        ),
        ("DB_PASSWORD=Tr0ub4dor&3x", "password_assignment", "Tr0ub4dor&3x"),
        ("postgres://admin:S3cretPa55@db.internal:5432/app", "url_credentials", "S3cretPa55"),
        ("Authorization: Bearer 9fQ2xL7mZk3PwR8tYv1N", "authorization_header", "9fQ2xL7mZk3PwR8tYv1N"),
        (
            "the signing key is 8f2Kq9ZpL3xW7vR1tY6uN4mB0cD5eH2j",
            "high_entropy_string",
            "8f2Kq9ZpL3xW7vR1tY6uN4mB0cD5eH2j",
        ),
    ],
)
def test_finds_credentials(text: str, kind: str, secret: str) -> None:
    verdict = secrets.scan(text)
    found = [(f.kind, text[f.start : f.end]) for f in verdict.findings]
    assert (kind, secret) in found
    assert verdict.redacted_text is not None and secret not in verdict.redacted_text


def test_private_key_is_redacted_whole() -> None:
    key = (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq2x9Zl4kY8wQ3mVn0pR5tJ1sLh6\n-----END RSA PRIVATE KEY-----"
    )
    verdict = secrets.scan(f"here:\n{key}\nthanks")
    assert verdict.redacted_text == "here:\n[PRIVATE_KEY]\nthanks"


@pytest.mark.parametrize(
    "text",
    [
        "key = AKIAIOSFODNN7EXAMPLE",
        'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
        "token: ${GITHUB_TOKEN}",
        "password = <your-password-here>",
        "xoxb-xxxxxxxxx-xxxxxxxxxx-xxxxxxxxxxxx",
        "api_key: abcd1234abcd1234abcd1234abcd1234",
        "commit f15a5a04b0f6dc6073e6db0296e6ef2d8b8d2522 fixed it",
        "see /usr/local/lib/python3.11/site-packages/requests/adapters.py",
        "-----BEGIN OPENSSH PRIVATE KEY----------END OPENSSH PRIVATE KEY-----",
        "the configuration_management_subsystem restarted",
    ],
)
def test_ignores_placeholders_and_look_alikes(text: str) -> None:
    verdict = secrets.scan(text)
    assert verdict.action is Action.ALLOW, [(f.kind, text[f.start : f.end]) for f in verdict.findings]


@pytest.mark.parametrize(
    "value", ["EXAMPLEKEY123", "xxxxxxxxxxxx", "${TOKEN}", "<api-key>", "00000000000000", "abcdabcdabcdabcd"]
)
def test_placeholder_values(value: str) -> None:
    assert is_placeholder(value)


def test_random_value_is_not_a_placeholder() -> None:
    assert not is_placeholder("8f2Kq9ZpL3xW7vR1tY6uN4mB0cD5eH2j")


def test_google_key_published_in_the_firebase_sdk_is_not_a_secret() -> None:
    # Shipped in firebase-android-sdk's public source (gitleaks allow-lists it by value).
    assert secrets.scan('apiKey: "AIzaSyAnLA7NfeLquW1tJFpx_eQCxoX-oo6YyIs"').action is Action.ALLOW


def test_unpublished_google_key_is_still_found() -> None:
    key = "AIzaSyD4k9Qm2ZpL7xW3vR8tY1uN6bC0eH5jFgT"
    text = f'apiKey: "{key}"'
    verdict = secrets.scan(text)
    assert ("google_api_key", key) in [(f.kind, text[f.start : f.end]) for f in verdict.findings]
    assert verdict.redacted_text is not None and key not in verdict.redacted_text


@pytest.mark.parametrize(
    "text",
    [
        # Provider prefix, but not the provider's format: the provider rule judges it, not entropy.
        "sgp_78Ad84a5B6e8A2fE5B_4085FB0ccaDDd29DB66Fd7FE9bA2C1cdCE8400CD",
        "AIZASYD4K9QM2ZPL7XW3VR8TY1UN6BC0EH5JFGT",
        "ghp_Xk3mP9qR2sT5vW8yZ1bC",
    ],
)
def test_malformed_provider_tokens_are_not_entropy_findings(text: str) -> None:
    assert secrets.scan(text).action is Action.ALLOW


def test_unprefixed_random_token_is_still_an_entropy_finding() -> None:
    verdict = secrets.scan("value 78Ad84a5B6e8A2fE5B_4085FB0ccaDDd29DB66Fd7FE9bA2C1cdCE8400CD")
    assert [f.kind for f in verdict.findings] == ["high_entropy_string"]


def test_a_leaked_rampart_key_is_confirmed_by_its_checksum() -> None:
    from services.gateway.keys import LOCAL_DEV_KEY, generate_api_key

    key = generate_api_key()
    secrets_scanner = scanner("secrets")
    confirmed = secrets_scanner.scan(f"the key {key} was in the log").findings
    assert [(f.kind, f.score) for f in confirmed] == [(API_KEY_KIND, 1.0)]
    altered = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert [(f.kind, f.score) for f in secrets_scanner.scan(f"key {altered}").findings] == [(API_KEY_KIND, 0.8)]
    assert secrets_scanner.scan(LOCAL_DEV_KEY).findings == ()


def test_generated_provider_rules_find_formats_the_hand_rules_lack_and_skip_names() -> None:
    """Rules from the pinned whispers copy (tools/secrets_rules.py): a Postman key is found; an
    identifier that only starts like one (`aio...`) is not, nor a placeholder after a real prefix."""
    secrets_scanner = scanner("secrets")
    postman = "PMAK-60f1c9e2b7a84d03c5e6f718-1b9d2e7c4a6f8e0d3c5b7a9f1e2d4c6b8a"
    assert [f.kind for f in secrets_scanner.scan(f"export POSTMAN={postman}").findings] == ["whispers_apikey_known"]
    assert secrets_scanner.scan("import aiosqlite_connection_pool").findings == ()
    assert secrets_scanner.scan("PMAK-xxxxxxxxxxxxxxxxxxxxxxxx-xxxxxxxx").findings == ()


def test_the_generated_rules_file_is_what_the_generator_writes() -> None:
    import json

    from services.gateway.scanners.secrets import PROVIDER_RULES_PATH
    from tools.secrets_rules import generate

    assert json.loads(PROVIDER_RULES_PATH.read_text()) == json.loads(json.dumps(generate()))


def test_generated_rule_with_lookaheads_tests_its_literal_first() -> None:
    """The rewrite adds `(?=A)` before the lookaheads and so finds the same keys, without a scan
    to the end of the line at every word start."""
    from services.gateway.scanners.secrets import _GENERATED_RULES, _literal_first

    pattern = r"(?<![\w.+/-])((?=.*[A-Z])(?=.*[0-9])A(KIA|SIA)[A-Z0-9]{16})(?![\w.+/=-])"
    assert _literal_first(pattern) == r"(?<![\w.+/-])((?=A)(?=.*[A-Z])(?=.*[0-9])A(KIA|SIA)[A-Z0-9]{16})(?![\w.+/=-])"
    aws_id = dict(_GENERATED_RULES)["whispers_aws_id"]
    assert [m.group(1) for m in aws_id.finditer("key AKIAZ7Q4X2M9K3P8R5TW in the log")] == ["AKIAZ7Q4X2M9K3P8R5TW"]
