"""Reading and rewriting request and response bodies per route kind, and the request limits.

The gateway reads only what it must: the texts to scan (and to redact in place), the model the
client asked for, and the texts and usage of the answer. Everything else passes through as sent.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from services.gateway.config import LimitsConfig, RouteKind
from services.gateway.errors import InvalidRequestError

__all__ = [
    "THIRD_PARTY_ROLES",
    "InputText",
    "count_tokens",
    "decode_embedding",
    "input_texts",
    "output_texts",
    "parse_json_body",
    "usage_tokens",
    "write_text",
]


@dataclass(frozen=True)
class InputText:
    """A text in the request and where it sits (a JSON path), so a redaction can be written back.

    `third_party` marks content the client relays but did not write: a tool's result."""

    field: str
    path: tuple[str | int, ...]
    text: str
    third_party: bool = False


# Roles whose content comes from a tool the application called, not from its user.
THIRD_PARTY_ROLES = frozenset({"tool", "function"})


# A `\uD800`-`\uDFFF` escape: the only way a lone surrogate (not valid Unicode) reaches a string.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_json_body(body: bytes) -> dict[str, Any]:
    if not body:
        raise InvalidRequestError("body: empty; a JSON object is required", field="body")
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidRequestError(f"body: not valid JSON: {error}", field="body") from None
    except RecursionError:
        raise InvalidRequestError("body: JSON nested too deeply", field="body") from None
    if not isinstance(payload, dict):
        raise InvalidRequestError("body: must be a JSON object", field="body")
    # Surrogate pairs are fine; a lone one cannot be encoded, scanned or forwarded. Checked only
    # when the raw body holds such an escape, so ordinary requests pay one regex search.
    if _SURROGATE_ESCAPE.search(body):
        try:
            json.dumps(payload, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequestError(
                "body: a string holds a lone surrogate (not valid Unicode)", field="body"
            ) from None
    return payload


def _message_text(content: Any, field: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(part, dict) and part.get("type") == "text" for part in content):
        return "".join(str(part.get("text", "")) for part in content)
    raise InvalidRequestError(f"{field}: must be a string or a list of text parts", field=field)


def input_texts(kind: RouteKind, payload: dict[str, Any], limits: LimitsConfig) -> list[InputText]:
    """The texts the input scanners see, after the request limits (422 naming the field)."""
    texts: list[InputText] = []
    if kind == "chat":
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequestError("messages: a non-empty list of messages is required", field="messages")
        if len(messages) > limits.max_messages:
            raise InvalidRequestError(
                f"messages: {len(messages)} messages, more than the limit of {limits.max_messages}",
                field="messages",
                limit=limits.max_messages,
            )
        for index, message in enumerate(messages):
            field = f"messages.{index}.content"
            if not isinstance(message, dict):
                raise InvalidRequestError(f"messages.{index}: must be an object", field=f"messages.{index}")
            # Assistant turns were scanned as output when they were generated.
            if message.get("role") == "assistant":
                continue
            text = _message_text(message.get("content"), field)
            texts.append(
                InputText(field, ("messages", index, "content"), text, message.get("role") in THIRD_PARTY_ROLES)
            )
    elif kind == "embeddings":
        value = payload.get("input")
        if isinstance(value, str):
            texts.append(InputText("input", ("input",), value))
        elif isinstance(value, list) and value and all(isinstance(item, str) for item in value):
            if len(value) > limits.max_inputs:
                raise InvalidRequestError(
                    f"input: {len(value)} inputs, more than the limit of {limits.max_inputs}",
                    field="input",
                    limit=limits.max_inputs,
                )
            texts.extend(InputText(f"input.{i}", ("input", i), item) for i, item in enumerate(value))
        else:
            raise InvalidRequestError("input: a string or a non-empty list of strings is required", field="input")
    elif kind == "texts":
        value = payload.get("texts")
        if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
            raise InvalidRequestError("texts: a non-empty list of strings is required", field="texts")
        if len(value) > limits.max_inputs:
            raise InvalidRequestError(
                f"texts: {len(value)} texts, more than the limit of {limits.max_inputs}",
                field="texts",
                limit=limits.max_inputs,
            )
        texts.extend(InputText(f"texts.{i}", ("texts", i), item) for i, item in enumerate(value))
    elif kind == "rag":
        query = payload.get("query")
        if not isinstance(query, str):
            raise InvalidRequestError("query: a string is required", field="query")
        texts.append(InputText("query", ("query",), query))
    total = sum(len(item.text) for item in texts)
    if total > limits.max_chars:
        raise InvalidRequestError(
            f"{texts[0].field if len(texts) == 1 else 'body'}: {total} characters, more than the limit of "
            f"{limits.max_chars}",
            field=texts[0].field if len(texts) == 1 else "body",
            limit=limits.max_chars,
        )
    return texts


def write_text(payload: dict[str, Any], path: tuple[str | int, ...], text: str) -> None:
    target: Any = payload
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = text


def output_texts(kind: RouteKind, payload: Any) -> list[InputText]:
    """The answer texts the output scanners see."""
    if not isinstance(payload, dict):
        return []
    texts: list[InputText] = []
    if kind == "chat":
        for index, choice in enumerate(payload.get("choices") or []):
            content = (choice.get("message") or {}).get("content") if isinstance(choice, dict) else None
            if isinstance(content, str):
                texts.append(
                    InputText(f"choices.{index}.message.content", ("choices", index, "message", "content"), content)
                )
    elif kind == "rag":
        for index, passage in enumerate(payload.get("passages") or []):
            if isinstance(passage, dict) and isinstance(passage.get("text"), str):
                texts.append(InputText(f"passages.{index}.text", ("passages", index, "text"), passage["text"]))
    return texts


def count_tokens(text: str) -> int:
    """Whitespace tokens, the unit the built-in models report usage in."""
    return len(text.split())


def usage_tokens(payload: Any) -> tuple[int, int] | None:
    """(prompt, completion) tokens from an OpenAI `usage` object, if the answer has one."""
    if not isinstance(payload, dict) or not isinstance(payload.get("usage"), dict):
        return None
    usage = payload["usage"]
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    if isinstance(prompt, int) and isinstance(completion, int):
        return prompt, completion
    return None


def decode_embedding(value: Any) -> npt.NDArray[np.float64] | None:
    """An embedding as floats, whether sent as a list or as base64 little-endian float32."""
    try:
        if isinstance(value, list):
            return np.asarray(value, dtype=np.float64)
        if isinstance(value, str):
            return np.frombuffer(base64.b64decode(value), dtype="<f4").astype(np.float64)
    except (ValueError, TypeError):
        return None  # not a vector: nothing to learn about drift from it
    return None
