"""Personal data: names, street addresses, emails, phone numbers, payment cards, IBANs, national IDs, IP addresses.

Regexes only propose candidates; every number with a checksum is confirmed by python-stdnum
(Luhn for cards, ISO 7064 for IBANs, each country's rule for national IDs) and phone numbers by
Google's libphonenumber port (international formats: a number without "+" must be valid in one
of `PHONE_REGIONS`), so look-alikes with a bad checksum are left alone. People's names come from
spaCy's NER (`names.py`) and street addresses from street-type-anchored patterns (`addresses.py`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator

import phonenumbers
from stdnum import iban, luhn
from stdnum.ca import sin as ca_sin
from stdnum.es import nie as es_nie
from stdnum.es import nif as es_nif
from stdnum.exceptions import ValidationError
from stdnum.fi import hetu as fi_hetu
from stdnum.gb import nhs as gb_nhs
from stdnum.in_ import aadhaar as in_aadhaar
from stdnum.it import codicefiscale as it_fiscal_code
from stdnum.pl import pesel as pl_pesel
from stdnum.se import personnummer as se_personnummer
from stdnum.tr import tckimlik as tr_national_id
from stdnum.us import ssn as us_ssn

from services.gateway.scanners.addresses import street_addresses
from services.gateway.scanners.base import Finding, Stage
from services.gateway.scanners.config import ScannerSettings
from services.gateway.scanners.findings import SpanScanner
from services.gateway.scanners.names import person_names

__all__ = ["PII_KINDS", "PiiScanner"]

# Default region for phone numbers written without a country code.
PHONE_REGION = "US"

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}\b")
_PHONE_CANDIDATE = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{5,18}\d(?!\d)")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?=%|/|[^\w:.-]|$)"
)
_IP_SUFFIX = re.compile(r"(?:%[A-Za-z0-9]+)?(?:/\d{1,3}(?!\d))?")


def _valid_hetu(value: str) -> bool:
    try:
        fi_hetu.validate(_legacy_hetu(value), allow_temporary=True)
    except ValidationError:
        return False
    return True


def _legacy_hetu(value: str) -> str:
    """Finland's 2023 century signs (Y-U for 1900s, B-F for 2000s) as the classic - and A.

    python-stdnum 2.2 knows only -, + and A; the checksum does not involve the sign.
    """
    sign = value[6].upper()
    if sign in "YXWVU":
        return f"{value[:6]}-{value[7:]}"
    if sign in "BCDEF":
        return f"{value[:6]}A{value[7:]}"
    return value


# Each national ID: its kind, a candidate pattern, the stdnum validator that confirms it.
_Validator = Callable[[str], bool]
_NATIONAL_IDS: tuple[tuple[str, re.Pattern[str], _Validator], ...] = (
    (
        "us_ssn",
        re.compile(r"(?<![\d-])\d{3}([- .]?)\d{2}\1\d{4}(?![\d-])"),
        lambda v: us_ssn.is_valid(re.sub(r"[ .]", "-", v)),
    ),
    ("uk_nhs", re.compile(r"(?<![\d-])\d{3}[- ]?\d{3}[- ]?\d{4}(?![\d-])"), gb_nhs.is_valid),
    (
        "es_nif",
        re.compile(r"(?<!\w)\d{7,8}-?[A-Za-z](?!\w)"),
        lambda v: es_nif.is_valid(v.zfill(10) if "-" in v else v.zfill(9)),
    ),
    ("es_nie", re.compile(r"(?<!\w)[XYZxyz]-?\d{7}-?[A-Za-z](?!\w)"), es_nie.is_valid),
    ("fi_personal_id", re.compile(r"(?<!\w)\d{6}[-+A-FU-Y]\d{3}[\dA-Za-z](?!\w)"), _valid_hetu),
    ("pl_pesel", re.compile(r"(?<!\d)\d{11}(?!\d)"), pl_pesel.is_valid),
    ("tr_national_id", re.compile(r"(?<!\d)\d{11}(?!\d)"), tr_national_id.is_valid),
    (
        "in_aadhaar",
        re.compile(r"(?<![\d-])\d{4}([- :]?)\d{4}\1\d{4}(?![\d-])"),
        lambda v: in_aadhaar.is_valid(re.sub(r"[ :-]", "", v)),
    ),
    ("ca_sin", re.compile(r"(?<![\d-])\d{3}[- ]?\d{3}[- ]?\d{3}(?![\d-])"), ca_sin.is_valid),
    ("se_personnummer", re.compile(r"(?<![\d-])(?:\d{2})?\d{6}[-+]?\d{4}(?![\d-])"), se_personnummer.is_valid),
)

_IT_FISCAL_CODE = re.compile(r"(?<!\w)[A-Za-z]{6}[\dA-Za-z]{2}[A-Za-z][\dA-Za-z]{2}[A-Za-z][\dA-Za-z]{3}[A-Za-z](?!\w)")

PII_KINDS = (
    "person",
    "street_address",
    "email",
    "phone",
    "credit_card",
    "iban",
    "ip_address",
    *(kind for kind, _, _ in _NATIONAL_IDS),
    "it_fiscal_code",
)


class PiiScanner(SpanScanner):
    """`names=False` leaves people's names alone (no NER model is loaded)."""

    name = "pii"

    def __init__(self, stage: Stage, settings: ScannerSettings, names: bool = True):
        super().__init__(stage, settings)
        self.names = names

    def find(self, text: str) -> list[Finding]:
        findings: list[Finding] = []
        if "@" in text:
            findings += [Finding("email", m.start(), m.end(), 1.0) for m in _EMAIL.finditer(text)]
        if any(character.isdigit() for character in text):
            findings += _cards(text)
            findings += _ibans(text)
            findings += _national_ids(text)
            findings += _phones(text)
            findings += _ip_addresses(text)
            findings += street_addresses(text)
        elif ":" in text:
            findings += _ip_addresses(text)
        if self.names:
            findings += person_names(text)
        return findings


def _cards(text: str) -> Iterator[Finding]:
    for match in _CARD.finditer(text):
        # The pattern can swallow a neighbouring number ("4111 1111 1111 1111 0"): try the
        # runs of digit groups, longest first, and keep the first that is a valid card number.
        groups = list(re.finditer(r"\d+", match.group()))
        for size in range(len(groups), 0, -1):
            found = False
            for first in range(len(groups) - size + 1):
                window = groups[first : first + size]
                digits = "".join(group.group() for group in window)
                if 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn.is_valid(digits):
                    start = match.start() + window[0].start()
                    yield Finding("credit_card", start, match.start() + window[-1].end(), 1.0)
                    found = True
                    break
            if found:
                break


def _ibans(text: str) -> Iterator[Finding]:
    for match in _IBAN.finditer(text):
        candidate = match.group()
        # The pattern may run on into a following upper-case word; drop trailing groups until valid.
        while candidate:
            if iban.is_valid(candidate):
                yield Finding("iban", match.start(), match.start() + len(candidate), 1.0)
                break
            if " " not in candidate:
                break
            candidate = candidate.rsplit(" ", 1)[0]


# National IDs are long digit runs (with a letter or two): find those runs once, then try each
# ID's pattern only on a small window around them instead of on the whole text.
_DIGIT_RUN = re.compile(r"\d[\d .:+-]{4,}\d")
_WINDOW_BEFORE, _WINDOW_AFTER = 8, 8


def _national_ids(text: str) -> Iterator[Finding]:
    seen: set[tuple[str, int, int]] = set()
    for run in _DIGIT_RUN.finditer(text):
        offset = max(0, run.start() - _WINDOW_BEFORE)
        window = text[offset : run.end() + _WINDOW_AFTER]
        for kind, pattern, is_valid in _NATIONAL_IDS:
            for match in pattern.finditer(window):
                key = (kind, offset + match.start(), offset + match.end())
                if key not in seen and is_valid(match.group()):
                    seen.add(key)
                    yield Finding(kind, key[1], key[2], 0.9)
    for match in _IT_FISCAL_CODE.finditer(text):
        if it_fiscal_code.is_valid(match.group()):
            yield Finding("it_fiscal_code", match.start(), match.end(), 0.9)


# A number written without "+" is read as a national number of each of these regions in turn
# (the most common callers of an English-language service first); it counts when one finds it valid.
PHONE_REGIONS = ("GB", "IN", "DE", "FR", "AU", "CA", "ES", "IT", "NL", "BR", "MX", "PH", "TR", "ZA", "JP", "CN", "IE")


def _phones(text: str) -> Iterator[Finding]:
    for match in _PHONE_CANDIDATE.finditer(text):
        candidate = match.group().rstrip(" .-(")
        if _valid_phone(candidate):
            yield Finding("phone", match.start(), match.start() + len(candidate), 0.8)


def _valid_phone(candidate: str) -> bool:
    # Other regions' national numbers start with a trunk "0" and are written in groups ("020 7946
    # 0958"); a bare run of digits is far more often an account or order number valid somewhere.
    national_elsewhere = candidate.startswith("0") and (" " in candidate or "(" in candidate) and "." not in candidate
    regions = PHONE_REGIONS if national_elsewhere else (PHONE_REGION,)
    for region in regions:
        try:
            number = phonenumbers.parse(candidate.replace("(0)", ""), region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


def _ip_addresses(text: str) -> Iterator[Finding]:
    found: list[Finding] = []
    for pattern in (_IPV6, _IPV4):
        for match in pattern.finditer(text):
            if any(f.start <= match.start() < f.end for f in found):
                continue  # the IPv4 tail of an IPv6 address
            try:
                ipaddress.ip_address(match.group())
            except ValueError:
                continue
            suffix = _IP_SUFFIX.match(text, match.end())
            end = suffix.end() if suffix else match.end()
            found.append(Finding("ip_address", match.start(), end, 0.9))
    yield from found
