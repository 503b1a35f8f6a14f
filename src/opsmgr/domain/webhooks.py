"""Webhook rules (issue #3 scope 7): the fields of a subscription and their checks, which events it
wants, the request body and its HMAC signature, and the retry back-off.

A webhook document: `name`, `url` (http or https), `topics` (event topics; empty: all), `jobNames` and
`automationIds` (optional filters on the event's job name and on the automation whose trigger started
the job; empty: any), `enabled`, and `secret` (write-only: answered as `hasSecret`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from opsmgr.domain import events as catalog
from opsmgr.domain.ids import is_object_id
from opsmgr.errors import Invalid

FIELDS = ("name", "url", "topics", "jobNames", "automationIds", "enabled", "secret")
MAX_URL = 2000
MAX_SECRET = 1000


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def check(body: Any, before: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The normalized webhook of a create body (`before` None) or of an update of `before`: every problem
    names its field (Invalid → 400)."""
    if not isinstance(body, dict):
        raise Invalid.problems("the body must be a JSON object", [{"path": "body", "message": "must be an object"}])
    problems: list[dict[str, str]] = []
    for key in body:
        if key not in FIELDS:
            problems.append({"path": key, "message": f"unknown field (allowed: {', '.join(FIELDS)})"})
    doc: dict[str, Any] = {"topics": [], "jobNames": [], "automationIds": [], "enabled": True,
                           **(before or {}), **{k: v for k, v in body.items() if k in FIELDS}}
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problems.append({"path": "name", "message": "required, a non-empty string of at most 200 characters"})
    url = doc.get("url")
    parts = urlsplit(url) if isinstance(url, str) and len(url) <= MAX_URL else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append({"path": "url", "message": "required, an absolute http:// or https:// URL"})
    topics = doc["topics"]
    known = catalog.topics()
    if not _strings(topics):
        problems.append({"path": "topics", "message": "must be an array of event topics"})
    else:
        for i, topic in enumerate(topics):
            if topic not in known:
                problems.append({"path": f"topics.{i}", "message": f"unknown topic {topic!r} (GET /events)"})
    if not _strings(doc["jobNames"]):
        problems.append({"path": "jobNames", "message": "must be an array of job (workflow) names"})
    ids = doc["automationIds"]
    if not _strings(ids) or not all(is_object_id(i) for i in ids):
        problems.append({"path": "automationIds", "message": "must be an array of automation ids"})
    if not isinstance(doc["enabled"], bool):
        problems.append({"path": "enabled", "message": "must be true or false"})
    secret = body.get("secret")
    if "secret" in body and secret is not None and (not isinstance(secret, str) or not 0 < len(secret) <= MAX_SECRET):
        problems.append({"path": "secret", "message": f"must be a string of 1 to {MAX_SECRET} characters, or null"})
    if problems:
        shown = "; ".join(f"{p['path']}: {p['message']}" for p in problems[:5])
        raise Invalid.problems(f"invalid webhook: {shown}", problems)
    doc.pop("secret", None)
    return doc


def wants(doc: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Does the webhook's filter take this event?"""
    if doc.get("topics") and event["topic"] not in doc["topics"]:
        return False
    job = event["payload"].get("job") or {}
    if doc.get("jobNames") and job.get("name") not in doc["jobNames"]:
        return False
    automation = (job.get("trigger") or {}).get("automationId")
    return not doc.get("automationIds") or automation in doc["automationIds"]


def body(event: Mapping[str, Any]) -> bytes:
    """The request body: the event as the stream sends it, `{id, source, topic, at, payload}`."""
    fields = {k: event[k] for k in ("id", "source", "topic", "at", "payload")}
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, raw: bytes) -> str:
    """`X-Opsmgr-Signature`: `sha256=` and the hex HMAC-SHA256 of the raw body under the secret."""
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds before the next try after `attempts` failed ones: base, 2·base, 4·base ... at most cap."""
    return float(min(cap, base * 2 ** max(0, min(attempts - 1, 30))))
