"""restCall (workflow-semantics §3.6) against a small HTTP server on 127.0.0.1 started by the test."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from opsmgr.engine.library.http import rest_call
from opsmgr.engine.registry import Outcome, TaskContext
from tests.helpers import create_workflow, http_server, start_job, task, wait_for_job, workflow


class Handler(BaseHTTPRequestHandler):
    """Echoes the request as JSON; `/status/<n>` answers n, `/slow` waits, `/text` answers plain text."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path == "/slow":
            time.sleep(0.5)
        if self.path == "/text":
            payload, kind = b"plain words", "text/plain"
        else:
            headers = {k.lower(): v for k, v in self.headers.items()}
            echo = {"method": self.command, "path": self.path, "headers": headers, "body": raw.decode()}
            payload, kind = json.dumps(echo).encode(), "application/json"
        status = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/status/") else 200
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("X-Served-By", "test-server")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client gave up (timeout test)
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with http_server(Handler) as url:
        yield url


def call(**incoming: Any) -> Outcome:
    ctx = TaskContext(job_id="j", task_id="t", task_key="a1", incoming=incoming, job_variables={}, task_outputs={},
                      runtime={}, now_ms=0)
    return asyncio.run(rest_call(ctx))


def test_get_returns_icode_response_and_headers(server: str) -> None:
    outcome = call(uri=f"{server}/devices?site=lab", verb="GET", responseHeaders=True)
    assert outcome.finish_state == "success"
    result = outcome.outputs["response"]
    assert set(result) == {"icode", "response", "headers"}
    assert result["icode"] == 200
    assert result["response"]["method"] == "GET" and result["response"]["path"] == "/devices?site=lab"
    assert result["headers"]["x-served-by"] == "test-server"


def test_post_sends_a_json_body_headers_and_basic_auth(server: str) -> None:
    body = {"name": "r1", "interfaces": ["gi0/1"]}
    outcome = call(uri=f"{server}/devices", verb="post", user="netops", password="s3cret",
                   headers={"X-Request-Id": "42"}, body=body, responseHeaders=False)
    assert outcome.finish_state == "success"
    echo = outcome.outputs["response"]["response"]
    assert echo["method"] == "POST" and json.loads(echo["body"]) == body
    assert echo["headers"]["content-type"] == "application/json" and echo["headers"]["x-request-id"] == "42"
    assert echo["headers"]["authorization"] == "Basic " + base64.b64encode(b"netops:s3cret").decode()
    assert outcome.outputs["response"]["headers"] == {}  # responseHeaders false


@pytest.mark.parametrize("verb", ["PUT", "PATCH", "DELETE"])
def test_other_verbs_and_a_string_body(server: str, verb: str) -> None:
    outcome = call(uri=f"{server}/x", verb=verb, body="raw text")
    assert outcome.finish_state == "success"
    assert outcome.outputs["response"]["response"]["method"] == verb
    assert outcome.outputs["response"]["response"]["body"] == "raw text"


def test_a_body_that_is_not_json_is_returned_as_text(server: str) -> None:
    outcome = call(uri=f"{server}/text", verb="GET")
    assert outcome.outputs["response"]["response"] == "plain words"


def test_a_status_outside_2xx_is_an_error_carrying_the_response(server: str) -> None:
    outcome = call(uri=f"{server}/status/404", verb="GET", responseHeaders=True)
    assert outcome.finish_state == "error"
    assert outcome.error["icode"] == 404 and outcome.error["response"]["path"] == "/status/404"
    assert outcome.error["headers"]["x-served-by"] == "test-server"
    assert outcome.outputs["response"] == outcome.error
    assert call(uri=f"{server}/status/503", verb="GET").error["icode"] == 503


def test_a_timeout_is_an_error_naming_the_uri(server: str) -> None:
    outcome = call(uri=f"{server}/slow", verb="GET", timeout=100)
    assert outcome.finish_state == "error"
    assert outcome.error["message"] == f"restCall: no response from GET {server}/slow within 100 ms"


def test_a_refused_connection_is_an_error_naming_the_uri() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = call(uri=f"http://127.0.0.1:{port}/x", verb="GET", timeout=2000)
    assert outcome.finish_state == "error"
    assert outcome.error["message"].startswith(f"restCall: GET http://127.0.0.1:{port}/x failed: ")


@pytest.mark.parametrize(("incoming", "message"), [
    ({"verb": "GET"}, "restCall: uri must be an http:// or https:// URI, got None"),
    ({"uri": "ftp://127.0.0.1/x", "verb": "GET"}, "restCall: uri must be an http:// or https:// URI"),
    ({"uri": "http://127.0.0.1/x"}, "restCall: verb must be one of DELETE, GET, PATCH, PUT, POST, got None"),
    ({"uri": "http://127.0.0.1/x", "verb": "TRACE"}, "restCall: verb must be one of"),
    ({"uri": "http://127.0.0.1/x", "verb": "GET", "headers": "x"}, "restCall: headers must be an object"),
    ({"uri": "http://127.0.0.1/x", "verb": "GET", "timeout": -1}, "restCall: timeout must be a positive number"),
])
def test_bad_input_is_an_error_without_a_call(incoming: dict, message: str) -> None:
    outcome = call(**incoming)
    assert outcome.finish_state == "error" and outcome.error["message"].startswith(message)


def test_rest_call_in_a_job_promotes_its_response_and_takes_the_error_path(client, server: str) -> None:
    ok = task("restCall", type_="automatic", uri=f"{server}/devices", verb="POST", body="$var.job.device",
              headers={}, user="", password="", responseHeaders=False)
    ok["variables"]["outgoing"] = {"response": "$var.job.created"}
    missing = task("restCall", type_="automatic", uri=f"{server}/status/404", verb="GET", responseHeaders=False)
    missing["variables"]["error"] = "$var.job.lookupError"
    note = task("newVariable", name="path", value="error")
    doc = workflow("rest", {"a1": ok, "b2": missing, "c3": note},
                   {"workflow_start": {"a1": "success"}, "a1": {"b2": "success"}, "b2": {"c3": "error"},
                    "c3": {"workflow_end": "success"}})
    create_workflow(client, doc)
    job = wait_for_job(client, start_job(client, "rest", {"device": {"name": "r1"}})["_id"])
    assert job["status"] == "complete", job["error"]
    assert job["variables"]["created"]["icode"] == 200
    assert json.loads(job["variables"]["created"]["response"]["body"]) == {"name": "r1"}
    assert job["variables"]["lookupError"]["icode"] == 404 and job["variables"]["path"] == "error"
