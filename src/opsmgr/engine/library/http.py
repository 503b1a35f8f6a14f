"""restCall: a generic HTTP call (workflow-semantics §3.6).

Incoming names from the docs.itential.com task reference ("restCall"): `uri` (required), `verb` (required:
DELETE, GET, PATCH, PUT, POST), `user` and `password` (HTTP basic authentication when `user` is set),
`headers` (object), `body` (an object or array is sent as JSON; a string as it is), `responseHeaders`
(include the response headers). `timeout` (milliseconds, default 30000) is our own addition: Itential
documents no timeout input.

Outgoing `response` = `{icode, response, headers}`: the status code, the body (parsed JSON when it is JSON,
text otherwise) and the response headers (`{}` when `responseHeaders` is false). A status outside 2xx is an
`error` outcome whose error is that same object; a connection failure or a timeout is an `error` outcome
whose message names the URI.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from opsmgr.engine.library import bad, integer, type_name
from opsmgr.engine.registry import Outcome, TaskContext

VERBS = ("DELETE", "GET", "PATCH", "PUT", "POST")
DEFAULT_TIMEOUT_MS = 30_000


def _body(response: httpx.Response) -> Any:
    text = response.text
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


async def rest_call(ctx: TaskContext) -> Outcome:
    """Send `verb` `uri` and return `{icode, response, headers}`; non-2xx is an error outcome."""
    uri = ctx.incoming.get("uri")
    if not isinstance(uri, str) or not uri.startswith(("http://", "https://")):
        return bad("restCall", "uri", f"must be an http:// or https:// URI, got {uri!r}")
    verb = ctx.incoming.get("verb")
    if not isinstance(verb, str) or verb.upper() not in VERBS:
        return bad("restCall", "verb", f"must be one of {', '.join(VERBS)}, got {verb!r}")
    headers = ctx.incoming.get("headers") or {}
    if not isinstance(headers, Mapping):
        return bad("restCall", "headers", f"must be an object, got {type_name(headers)}")
    raw_timeout = ctx.incoming.get("timeout")
    timeout_ms = DEFAULT_TIMEOUT_MS if raw_timeout in (None, "") else integer(raw_timeout)
    if timeout_ms is None or timeout_ms <= 0:
        return bad("restCall", "timeout", f"must be a positive number of milliseconds, got {raw_timeout!r}")
    user, password = ctx.incoming.get("user"), ctx.incoming.get("password")
    auth = httpx.BasicAuth(str(user), "" if password is None else str(password)) if user else None
    body = ctx.incoming.get("body")
    request: dict[str, Any] = {}
    if isinstance(body, dict | list):
        request["json"] = body
    elif isinstance(body, str) and body != "":
        request["content"] = body.encode()
    elif body not in (None, ""):
        request["json"] = body  # a number or a boolean: sent as JSON

    try:
        async with httpx.AsyncClient(timeout=timeout_ms / 1000, follow_redirects=True) as client:
            response = await client.request(
                verb.upper(), uri, headers={str(k): str(v) for k, v in headers.items()}, auth=auth, **request
            )
    except httpx.TimeoutException:
        return Outcome("error", error={"message": f"restCall: no response from {verb.upper()} {uri} "
                                                  f"within {timeout_ms} ms"})
    except httpx.HTTPError as exc:
        return Outcome("error", error={"message": f"restCall: {verb.upper()} {uri} failed: "
                                                  f"{exc or type(exc).__name__}"})
    result = {
        "icode": response.status_code,
        "response": _body(response),
        "headers": dict(response.headers) if ctx.incoming.get("responseHeaders") not in (False, "false") else {},
    }
    if not response.is_success:
        return Outcome("error", {"response": result}, error=result)
    return Outcome(outputs={"response": result})
