"""The catalog of events this server publishes (ops-manager-api §3.6, §5.3): every topic of the
`@itential/app-operations_manager` source with the JSON Schema of its payload.

A payload carries identities and states only (job `_id`/name/status, the trigger that started the job,
the parent of a child job, task `_id`/key/name/type, owner, by), never variable values: those may be secret
(decisions §7).

Task topics: claimed/released/assigned concern manual tasks; `taskFinished` (success or failure) and
`taskError` cover manual AND automatic tasks (`task.type` tells which). Automatic tasks have no "started"
event: they become ready and finish, often inside one transaction, and the engine benchmark pays for every
insert (one per finished task is the price we accept).
"""

from __future__ import annotations

from typing import Any

SOURCE = "@itential/app-operations_manager"

_ID_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}
_JOB: dict[str, Any] = {
    "type": "object",
    "required": ["_id", "name", "status"],
    "properties": {
        "_id": {"type": "string", "pattern": "^[0-9a-f]{24}$"},
        "name": {"type": "string"},
        "status": {"type": "string", "enum": ["running", "complete", "error", "canceled", "paused"]},
        "trigger": {
            "type": ["object", "null"],
            "description": "the automation trigger that started the job (null: started otherwise)",
            "properties": {
                "automationId": {"type": "string"},
                "triggerId": {"type": "string"},
                "type": {"type": "string", "enum": ["manual", "endpoint", "schedule", "eventSystem"]},
                "triggeredBy": {"description": "a username, 'schedule', or for eventSystem the event "
                                                "{type: 'event', eventId, source, topic, jobId, depth}"},
            },
        },
        "parent": {
            "type": ["object", "null"],
            "description": "for a child job: the parent job and its childJob task key",
            "properties": {"_id": {"type": "string"}, "task": {"type": "string"}},
        },
    },
}
_TASK: dict[str, Any] = {
    "type": "object",
    "required": ["_id", "key", "name"],
    "properties": {
        "_id": {"type": "string"}, "key": {"type": "string"}, "name": {"type": "string"},
        "type": {"type": "string", "description": "manual, automatic or operation"},
        "finishState": {"type": ["string", "null"], "description": "success, failure or error once finished"},
    },
}

JOB_TOPICS: dict[str, str] = {
    "jobStarted": "A job was started (a child job too: see job.parent).",
    "jobComplete": "A job reached workflow_end.",
    "jobError": "A job stopped in error.",
    "jobCanceled": "A job was canceled.",
    "jobPaused": "A job was paused.",
    "jobResumed": "A paused or errored job runs again (resume, retry, continue, revert).",
}
TASK_TOPICS: dict[str, str] = {
    "taskClaimed": "A manual task was claimed.",
    "taskReleased": "A manual task was released.",
    "taskAssigned": "A manual task was assigned to someone.",
    "taskFinished": "A manual or automatic task finished (finishState success or failure).",
    "taskError": "A manual or automatic task finished in error.",
}
# the topic of a job status reached by a state change other than a start
STATUS_TOPICS: dict[str, str] = {
    "complete": "jobComplete",
    "error": "jobError",
    "canceled": "jobCanceled",
    "paused": "jobPaused",
    "running": "jobResumed",
}


def definition(topic: str) -> dict[str, Any]:
    """The JSON Schema of a topic's payload."""
    task = topic in TASK_TOPICS
    properties: dict[str, Any] = {"job": _JOB, "by": {**_ID_OR_NULL, "description": "account id of who acted"}}
    required = ["job", "by"]
    if task:
        properties["task"] = _TASK
        properties["owner"] = {**_ID_OR_NULL, "description": "account id of the task's owner after the change"}
        required += ["task", "owner"]
    else:
        properties["from"] = {"type": ["string", "null"], "description": "the job's status before the change"}
    description = TASK_TOPICS[topic] if task else JOB_TOPICS[topic]
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": topic,
        "description": description,
        "type": "object",
        "required": required,
        "properties": properties,
    }


def topics() -> list[str]:
    return [*JOB_TOPICS, *TASK_TOPICS]


def catalog() -> list[dict[str, Any]]:
    """Every event definition, `{source, topic, definition}` (§3.6)."""
    return [{"source": SOURCE, "topic": t, "definition": definition(t)} for t in topics()]


def find(source: str, topic: str) -> dict[str, Any] | None:
    if source != SOURCE or topic not in (*JOB_TOPICS, *TASK_TOPICS):
        return None
    return {"source": SOURCE, "topic": topic, "definition": definition(topic)}
