"""Secrets and credentials: provider keys and tokens, private keys, passwords in assignments,
credentials in URLs and headers, and high-entropy strings.

Provider rules follow the token formats the providers document (and gitleaks/detect-secrets
encode). Everything matched is checked against placeholder patterns first ("EXAMPLE",
"xxxx", "<your-key>", "${VAR}", repeated fragments), because documentation and config templates
are full of key-shaped text that is not a secret.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from platform_facts.project import METRIC_PREFIX
from services.gateway.scanners.base import Finding
from services.gateway.scanners.findings import SpanScanner
from services.gateway.scanners.key_checksum import API_KEY_BODY_CHARS, API_KEY_CHECKSUM_CHARS, api_key_checksum_ok

__all__ = ["SECRET_KINDS", "SecretsScanner", "is_placeholder", "shannon_entropy"]

# (kind, pattern, score). Group 1, when present, is the secret itself; otherwise the whole match.
_RULES: tuple[tuple[str, re.Pattern[str], float], ...] = tuple(
    (kind, re.compile(pattern), score)
    for kind, pattern, score in (
        (
            "private_key",
            r"-----BEGIN[ A-Z0-9]{0,20}PRIVATE KEY(?: BLOCK)?-----(?=\s*[A-Za-z0-9+/=]{16})(?:[\s\S]*?-----END[ A-Z0-9]{0,20}PRIVATE KEY(?: BLOCK)?-----|[\s\S]*)",
            1.0,
        ),
        ("aws_access_key", r"\b((?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16})\b", 1.0),
        ("aws_bedrock_key", r"\b(ABSK[A-Za-z0-9+/]{100,}={0,2})", 1.0),
        ("github_token", r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})\b", 1.0),
        (
            "gitlab_token",
            r"\b(gl(?:pat|dt|rt|soat|ft|ffct|cbt|wt)-[A-Za-z0-9_-]{20}|glptt-[0-9a-f]{40}|glagent-[A-Za-z0-9_-]{50}"
            r"|gloas-[A-Za-z0-9_-]{64}|glimt-[A-Za-z0-9_-]{25}|glpat-[A-Za-z0-9_-]{27,300}\.[0-9a-z]{2}[0-9a-z]{7})(?![A-Za-z0-9_-])",
            1.0,
        ),
        (
            "slack_token",
            r"\b(xoxb-\d{10,13}-\d{10,13}[A-Za-z0-9-]*|xox[pe](?:-\d{10,13}){3}-[A-Za-z0-9-]{28,34}"
            r"|xox[os]-\d+-\d+-\d+-[A-Fa-f\d]+|xox[ar]-(?:\d-)?[0-9A-Za-z]{8,48}|xoxe(?:\.xox[bp])?-\d-[A-Z0-9]{146,166})",
            1.0,
        ),
        ("slack_webhook", r"(https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,})", 1.0),
        ("stripe_key", r"\b((?:sk|rk|pk)_(?:live|test|prod)_[A-Za-z0-9]{20,})", 1.0),
        ("google_api_key", r"\b(AIza[0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])", 1.0),
        ("anthropic_key", r"\b(sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_-]{80,})", 1.0),
        (
            "openai_key",
            r"\b(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}|sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,})",
            1.0,
        ),
        ("huggingface_token", r"\b((?:hf_|api_org_)[A-Za-z]{34})\b", 1.0),
        ("npm_token", r"\b(npm_[A-Za-z0-9]{36})\b", 1.0),
        ("npm_auth_token", r"_authToken=([A-Za-z0-9-]{20,})", 1.0),
        ("pypi_token", r"\b(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})", 1.0),
        ("sendgrid_key", r"\b(SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})\b", 1.0),
        ("twilio_key", r"\b((?:SK|AC)[0-9a-f]{32})\b", 0.9),
        ("telegram_token", r"\b(\d{8,10}:AA[0-9A-Za-z_-]{33})\b", 1.0),
        ("discord_token", r"\b([A-Za-z\d_-]{24,28}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,38})\b", 1.0),
        ("mailchimp_key", r"\b([0-9a-f]{32}-us\d{1,2})\b", 1.0),
        ("notion_token", r"\b(ntn_[0-9]{11}[A-Za-z0-9]{32,35})\b", 1.0),
        ("vault_token", r"\b(hv[sb]\.[A-Za-z0-9_-]{24,})", 1.0),
        ("facebook_token", r"\b(EAA[MC][A-Za-z0-9]{100,})", 1.0),
        ("onepassword_token", r"\b(ops_eyJ[A-Za-z0-9+/]{200,}={0,3})", 1.0),
        ("sourcegraph_token", r"\b(sgp_(?:[a-fA-F0-9]{16}|local)_[a-fA-F0-9]{40}|sgp_[a-fA-F0-9]{40})\b", 1.0),
        ("grafana_token", r"\b(glc_[A-Za-z0-9+/]{32,400}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})", 1.0),
        ("databricks_token", r"\b(dapi[a-f0-9]{32}(?:-\d)?)\b", 1.0),
        ("terraform_token", r"\b([A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9=_-]{60,70})", 1.0),
        (
            "onepassword_secret_key",
            r"\b(A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5})\b",
            1.0,
        ),
        ("artifactory_token", r"\b(AKC[A-Za-z0-9]{10,}|cmVmd[A-Za-z0-9]{59})\b", 0.9),
        (
            "azure_client_secret",
            r"(?<![A-Za-z0-9_~.-])([A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34})(?![A-Za-z0-9_~.-])",
            1.0,
        ),
        ("easypost_token", r"\b(EZ[AT]K[a-z0-9]{54})\b", 1.0),
        ("infracost_token", r"(?<![\w.])(ico-[A-Za-z0-9]{32})\b", 1.0),
        ("intra42_secret", r"\b(s-s4t2(?:ud|af)-[a-f0-9]{64})\b", 1.0),
        ("octopus_deploy_key", r"\b(API-[A-Z0-9]{26})\b", 1.0),
        ("openshift_token", r"\b(sha256~[A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])", 1.0),
        (
            "gitlab_runner_token",
            r"\b(glrt-t\d_[A-Za-z0-9_-]{27,300}\.[0-9a-z]{2}[0-9a-z]{7}|GR1348941[A-Za-z0-9_-]{20})",
            1.0,
        ),
        ("aws_bedrock_short_key", r"\b(bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/=%]{20,})", 1.0),
        ("beamer_token", r"\b(b_[a-z0-9=_-]{44})(?![a-z0-9=_-])", 0.9),
        ("clickhouse_secret", r"\b(4b1d[A-Za-z0-9]{38})\b", 1.0),
        ("gcp_service_account", r"(\"type\"\s*:\s*\"service_account\")", 0.9),
        ("facebook_app_token", r"\b(\d{15,16}(?:\||%7C)[0-9A-Za-z_-]{27,40})", 1.0),
        ("jwt_base64", r"\b(ZXlK[A-Za-z0-9+/]{40,}={0,2})", 0.9),
        ("sidekiq_secret", r"(?i)BUNDLE_(?:ENTERPRISE|GEMS)__CONTRIBSYS__COM\W{1,5}([a-f0-9]{8}:[a-f0-9]{8})", 1.0),
        (
            "vendor_key_assignment",
            r"(?i)\b(?:meraki|cohere|etsy|okta|sumo\w*|discord|clickhouse|beamer|databricks|sourcegraph|vault)[\w.-]{0,30}[\s:=\"'>]{1,6}([A-Za-z0-9_=~.+/-]{16,})",
            0.8,
        ),
        ("jwt", r"\b(eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}(?:\.[A-Za-z0-9_-]{10,})?)", 0.9),
        ("url_credentials", r"[a-z][a-z0-9+.-]*://[^\s:/@\"']+:([^\s:/@\"']{3,})@[^\s/]", 0.9),
        (
            "authorization_header",
            r"(?i)\b(?:authorization|x-[a-z-]*(?:api-?key|token))\s*:\s*(?:bearer\s+|basic\s+|token\s+)?([A-Za-z0-9._~+/=-]{8,})",
            0.9,
        ),
        ("cli_credentials", r"(?:--user|\s-u)\s+[\"'{]*[^\s:\"'{}]+[}\"']*:[\"'{]*([^\s\"'{}]{6,})", 0.8),
        (
            "password_assignment",
            r"(?i)(?:secret|passw(?:or)?d|pwd|token|api[_.-]?key|apikey|access[_.-]?key|auth[_.-]?key|private[_.-]?key|client[_.-]?secret|credentials?)[\w.-]*"
            r"[\"']?[ \t]*(?::=|=>|==|[:=])[ \t]*[\"']?([^\s\"',;)]{6,}(?<!:))",
            0.8,
        ),
        (
            "password_flag",
            r"(?i)(?<![\w-])--?[\w-]*(?:secret|password|token|api-?key)[\w-]*[ \t]+[\"']([^\"'\s]{8,})[\"']",
            0.8,
        ),
    )
)

API_KEY_KIND = f"{METRIC_PREFIX}_api_key"
"""The platform's own `rk-` keys (`<metric prefix>_api_key`, so a fork's findings carry its name)."""
SECRET_KINDS = (*(kind for kind, _, _ in _RULES), API_KEY_KIND, "high_entropy_string")  # + generated kinds

# Literal text each provider format contains (case-sensitive): a rule whose hints are all absent
# cannot match, and a substring test is much cheaper than running its pattern. Rules without
# hints always run.
_RULE_HINTS: dict[str, tuple[str, ...]] = {
    "private_key": ("PRIVATE KEY",),
    "aws_access_key": ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
    "aws_bedrock_key": ("ABSK",),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "gitlab_token": ("gl",),
    "slack_token": ("xox",),
    "slack_webhook": ("hooks.slack.com",),
    "stripe_key": ("_live_", "_test_", "_prod_"),
    "google_api_key": ("AIza",),
    "anthropic_key": ("sk-ant-",),
    "openai_key": ("sk-",),
    "huggingface_token": ("hf_", "api_org_"),
    "npm_token": ("npm_",),
    "npm_auth_token": ("_authToken",),
    "pypi_token": ("pypi-",),
    "sendgrid_key": ("SG.",),
    "twilio_key": ("SK", "AC"),
    "telegram_token": (":AA",),
    "discord_token": (".",),
    "mailchimp_key": ("-us",),
    "notion_token": ("ntn_",),
    "vault_token": ("hvs.", "hvb."),
    "facebook_token": ("EAA",),
    "onepassword_token": ("ops_",),
    "sourcegraph_token": ("sgp_",),
    "grafana_token": ("glc_", "glsa_"),
    "databricks_token": ("dapi",),
    "terraform_token": (".atlasv1.",),
    "jwt": ("eyJ",),
    "url_credentials": ("://",),
    "cli_credentials": ("-u", "--user"),
    "password_flag": ("-",),
    "onepassword_secret_key": ("A3-",),
    "artifactory_token": ("AKC", "cmVmd"),
    "azure_client_secret": ("Q~",),
    "easypost_token": ("EZAK", "EZTK"),
    "infracost_token": ("ico-",),
    "intra42_secret": ("s-s4t2",),
    "octopus_deploy_key": ("API-",),
    "openshift_token": ("sha256~",),
    "gitlab_runner_token": ("glrt-", "GR1348941"),
    "aws_bedrock_short_key": ("bedrock-api-key-",),
    "beamer_token": ("b_",),
    "clickhouse_secret": ("4b1d",),
    "gcp_service_account": ("service_account",),
    "facebook_app_token": ("|", "%7C"),
    "jwt_base64": ("ZXlK",),
    "sidekiq_secret": ("CONTRIBSYS",),
}

# Google API keys that Google publishes in the Firebase Android SDK's source (the list gitleaks
# allow-lists by value, rules/gcp.go): restricted client keys meant to ship in apps, not secrets.
_PUBLISHED_KEYS = frozenset(
    {
        "AIzaSyAnLA7NfeLquW1tJFpx_eQCxoX-oo6YyIs",
        "AIzaSyCkEhVjf3pduRDt6d1yKOMitrUEke8agEM",
        "AIzaSyDMAScliyLx7F0NPDEJi1QmyCgHIAODrlU",
        "AIzaSyD3asb-2pEZVqMkmL6M9N6nHZRR_znhrh0",
        "AIzayDNSXIbFmlXbIE6mCzDLQAqITYefhixbX4A",
        "AIzaSyAdOS2zB6NCsk1pCdZ4-P6GBdi_UUPwX7c",
        "AIzaSyASWm6HmTMdYWpgMnjRBjxcQ9CKctWmLd4",
        "AIzaSyANUvH9H9BsUccjsu2pCmEkOPjjaXeDQgY",
        "AIzaSyA5_iVawFQ8ABuTZNUdcwERLJv_a_p4wtM",
        "AIzaSyA4UrcGxgwQFTfaI3no3t7Lt1sjmdnP5sQ",
        "AIzaSyDSb51JiIcB6OJpwwMicseKRhhrOq1cS7g",
        "AIzaSyBF2RrAIm4a0mO64EShQfqfd2AFnzAvvuU",
        "AIzaSyBcE-OOIbhjyR83gm4r2MFCu4MJmprNXsw",
        "AIzaSyB8qGxt4ec15vitgn44duC5ucxaOi4FmqE",
        "AIzaSyA8vmApnrHNFE0bApF4hoZ11srVL_n0nvY",
    }
)

# Prefixes that name a provider's documented token format (compared case-insensitively). A token
# that starts with one but fails the provider's rule (wrong length, wrong alphabet, wrong case) is
# a truncated or edited sample: the provider rule is the judge, not the generic entropy check.
_PROVIDER_PREFIXES = tuple(
    prefix.lower()
    for prefix in (
        "AKIA", "ASIA", "ABSK", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "glptt-",
        "glrt-", "xoxb-", "xoxp-", "xoxe", "sk_live_", "sk_test_", "rk_live_", "pk_live_", "AIza", "sk-ant-",
        "sk-proj-", "npm_", "pypi-", "hvs.", "hvb.", "ntn_", "sgp_", "glc_", "glsa_", "dapi", "ops_ey",
        "EZAK", "EZTK", "sha256~", "bedrock-api-key-",
    )
)  # fmt: skip

_CANDIDATE_TOKEN = re.compile(r"[A-Za-z0-9+/_=.-]{20,}")
_PLACEHOLDER_WORDS = re.compile(
    r"(?i)example|xxxx|\*\*\*|\.\.|your[_-]|<[^>]*>|^<|^\[|\$\{|\$\(|%s|%\(|\{\{|^\{\w*\}$|changeme|dummy|placeholder|redacted"
    r"|sample|replace[_-]?me|insert[_-]|fake|not[_-]?a[_-]?real|(?-i:^\$?[A-Z_]+$)|_here$"
    r"|abcdefgh|bcdefghi|mnopqrst|qrstuvwx|12345678|23456789|(.)\1{5}|(\w{3,})[-_]\2[-_]\2|(\w{3})\3{3}"
)
_CODE_REFERENCE = re.compile(
    r"^(?:os\.|env\.|process\.env|getenv|config\.|settings\.|self\.|args\.|[a-z_]+\(|[a-z_]+\.[a-z_]+$)"
)


def shannon_entropy(value: str) -> float:
    """Bits per character of `value`."""
    counts = Counter(value)
    total = len(value)
    return -sum(count / total * math.log2(count / total) for count in counts.values())


def is_placeholder(value: str) -> bool:
    """True for key-shaped text that documentation and templates use instead of a real secret."""
    stripped = value.strip("\"'`")
    if _PLACEHOLDER_WORDS.search(stripped) or _CODE_REFERENCE.match(stripped):
        return True
    if len(set(stripped.lower())) <= 3:
        return True
    return _repeats_a_short_fragment(stripped)


def _repeats_a_short_fragment(value: str) -> bool:
    """ "abcdabcdabcd…" or "0000…": a value made of one fragment repeated is never a real key."""
    for period in range(1, min(9, len(value) // 3 + 1)):
        if all(value[i] == value[i % period] for i in range(len(value))):
            return True
    return False


class SecretsScanner(SpanScanner):
    name = "secrets"

    def find(self, text: str) -> list[Finding]:
        findings = list(self._rule_findings(text))
        if "rk-" in text:
            findings += _rampart_keys(text)
        covered_by_rules = [(f.start, f.end) for f in findings]
        for finding in _generated_rule_findings(text):
            if not any(start < finding.end and finding.start < end for start, end in covered_by_rules):
                findings.append(finding)
        covered = [(f.start, f.end) for f in findings]
        for finding in _high_entropy_findings(text):
            if not any(start < finding.end and finding.start < end for start, end in covered):
                findings.append(finding)
        return findings

    @staticmethod
    def _rule_findings(text: str) -> Iterator[Finding]:
        for kind, pattern, score in _RULES:
            hints = _RULE_HINTS.get(kind)
            if hints is not None and not any(hint in text for hint in hints):
                continue
            for match in pattern.finditer(text):
                group = 1 if pattern.groups else 0
                secret = match.group(group)
                if kind != "private_key" and (is_placeholder(secret) or secret in _PUBLISHED_KEYS):
                    continue
                if kind in _GENERIC_KINDS and not _looks_random(secret):
                    continue
                if kind == "url_credentials" and secret.lower() in _PASSWORD_WORDS:
                    continue
                yield Finding(kind, match.start(group), match.end(group), score)


_RAMPART_KEY = re.compile(
    rf"(?<![A-Za-z0-9_-])rk-[A-Za-z0-9_-]{{{API_KEY_BODY_CHARS}}}(?:[0-9A-Za-z]{{{API_KEY_CHECKSUM_CHARS}}})?(?![A-Za-z0-9_-])"
)


def _rampart_keys(text: str) -> Iterator[Finding]:
    """Rampart's own keys: confirmed by their checksum (1.0); the older 43-character form, or a
    checksum that does not hold, scores 0.8 (still over the default threshold: it is key-shaped)."""
    for match in _RAMPART_KEY.finditer(text):
        key = match.group()
        if is_placeholder(key[3:]):
            continue
        yield Finding(API_KEY_KIND, match.start(), match.end(), 1.0 if api_key_checksum_ok(key) else 0.8)


# Provider rules generated from a maintained rule set (tools/secrets_rules.py, `make secrets-rules`).
# They are prefix-anchored and loose about the rest, so a value must also look random and carry a
# digit: "aiosqlite_connection_pool" starts like an `aio` key but is a name.
PROVIDER_RULES_PATH = Path(__file__).parent / "rules" / "provider_rules.json"
# A rule whose value opens with lookaheads and then a literal ("(?=.*[A-Z])(?=.*[0-9])A(KIA|...")
# would run each `.*` lookahead to the end of the line at every word start: testing the literal
# first matches exactly the same strings without that quadratic scan.
_LOOKAHEADS_BEFORE_LITERAL = re.compile(r"^(\(\?<!(?:\\.|[^)])*\)\()((?:\(\?=[^()]*\))+)([A-Za-z0-9])")


def _literal_first(pattern: str) -> str:
    return _LOOKAHEADS_BEFORE_LITERAL.sub(r"\1(?=\3)\2\3", pattern, count=1)


_GENERATED_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (rule["kind"], re.compile(_literal_first(rule["pattern"]), re.IGNORECASE if rule["flags"] == "i" else 0))
    for rule in json.loads(PROVIDER_RULES_PATH.read_text())["rules"]
)
_GENERATED_SCORE = 0.9


def _generated_rule_findings(text: str) -> Iterator[Finding]:
    for kind, pattern in _GENERATED_RULES:
        for match in pattern.finditer(text):
            secret = match.group(1)
            if secret.lower().startswith(_PROVIDER_PREFIXES):
                continue  # a format the hand-written rules know exactly: they are the judge
            if is_placeholder(secret) or not any(c.isdigit() for c in secret) or not _looks_random(secret):
                continue
            if shannon_entropy(secret) < 3.0:
                continue
            yield Finding(kind, match.start(1), match.end(1), _GENERATED_SCORE)


_GENERIC_KINDS = frozenset(
    {"password_assignment", "password_flag", "authorization_header", "cli_credentials", "vendor_key_assignment"}
)
_PASSWORD_WORDS = frozenset({"password", "passwd", "pass", "secret", "pwd", "token", "pw"})


def _looks_random(value: str) -> bool:
    """A generic credential value must mix character classes, not read like a word or a path."""
    classes = sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
            any(not c.isalnum() for c in value),
        )
    )
    return classes >= 2 and shannon_entropy(value) >= 2.2 and "/" not in value.strip("/")[:1]


# Public keys and certificates are long random-looking text that is meant to be shared.
_PUBLIC_BLOCK = re.compile(
    r"-----BEGIN (?:PGP PUBLIC KEY BLOCK|PUBLIC KEY|CERTIFICATE|RSA PUBLIC KEY)-----[\s\S]*?(?:-----END[^-]*-----|$)"
)
_LOWERCASE_PATH_SEGMENT = re.compile(r"[a-z0-9_.-]*")
_LOWERCASE_RUN = re.compile(r"[a-z]{4,}")


def _high_entropy_findings(text: str) -> Iterator[Finding]:
    public = [(m.start(), m.end()) for m in _PUBLIC_BLOCK.finditer(text)] if "-----BEGIN" in text else []
    for match in _CANDIDATE_TOKEN.finditer(text):
        token = match.group().strip("=.-_")
        # Keys are 20-80 characters; longer random-looking runs are encoded data or blobs.
        if not 20 <= len(token) <= 80 or is_placeholder(match.group()) or _reads_like_words(token):
            continue
        if token in _PUBLISHED_KEYS or token.lower().startswith(_PROVIDER_PREFIXES):
            continue
        if any(start <= match.start() < end for start, end in public):
            continue
        score = _randomness_score(token)
        if score > 0.0:
            yield Finding("high_entropy_string", match.start(), match.end(), score)


def _reads_like_words(token: str) -> bool:
    """Paths and identifiers ("api/v1/check_user", "SponsoredProductsRemote") are mostly runs
    of four or more lower-case letters; random key material almost never is."""
    if "/" in token and all(_LOWERCASE_PATH_SEGMENT.fullmatch(part) for part in token.split("/")):
        return True
    in_words = sum(len(run) for run in _LOWERCASE_RUN.findall(token))
    return in_words / len(token) > 0.4


def _randomness_score(token: str) -> float:
    """0 for ordinary text; rises towards 1 as a token looks like random key material."""
    has_digit = any(c.isdigit() for c in token)
    has_letter = any(c.isalpha() for c in token)
    if not (has_digit and has_letter) or "." in token.strip("."):
        return 0.0
    if all(c in "0123456789abcdefABCDEF" for c in token):
        # Bare hex is far more often a commit, digest or UUID than a key; keys in hex are
        # caught by the assignment and provider rules, where the context says "secret".
        return 0.0
    entropy = shannon_entropy(token)
    # Random base64 carries about 6 bits/char; a 20-char sample reaches ~4.3.
    floor, ceiling = 3.7, 4.6
    if entropy < floor:
        return 0.0
    return round(min(1.0, 0.5 + 0.5 * (entropy - floor) / (ceiling - floor)), 3)
