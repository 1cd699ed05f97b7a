"""The checksum at the end of a Rampart API key: how a leaked key is confirmed without the key store.

A key is `rk-`, 43 random characters (32 bytes, urlsafe base64) and 6 base62 characters of the
CRC32 of those 43 (the scheme GitHub's tokens use). `services.gateway.keys` makes keys with it;
the secrets scanner reports a key whose checksum holds as `rampart_api_key` (score 1.0) and a
key-shaped string whose checksum does not, or an older key without one, at a lower score.
"""

from __future__ import annotations

import zlib

__all__ = ["API_KEY_BODY_CHARS", "API_KEY_CHECKSUM_CHARS", "api_key_checksum", "api_key_checksum_ok"]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
API_KEY_BODY_CHARS = 43
API_KEY_CHECKSUM_CHARS = 6


def api_key_checksum(body: str) -> str:
    """CRC32 of a key's random part as 6 base62 characters."""
    value = zlib.crc32(body.encode())
    digits = []
    for _ in range(API_KEY_CHECKSUM_CHARS):
        value, digit = divmod(value, 62)
        digits.append(_BASE62[digit])
    return "".join(reversed(digits))


def api_key_checksum_ok(key: str) -> bool:
    """True when `key` is a checksummed Rampart key whose checksum matches its random part."""
    if not key.startswith("rk-") or len(key) != 3 + API_KEY_BODY_CHARS + API_KEY_CHECKSUM_CHARS:
        return False
    body, checksum = key[3 : 3 + API_KEY_BODY_CHARS], key[3 + API_KEY_BODY_CHARS :]
    return api_key_checksum(body) == checksum
