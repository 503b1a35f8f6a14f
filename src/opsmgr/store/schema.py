"""The relational schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Documents (jobs, task iterations, workflows) are rows: real columns for what is filtered, sorted or
updated concurrently (status, owner, job id, times) and JSON columns for the rest. Times are epoch
milliseconds in BigInteger columns. The Alembic migrations in `migrations/versions` create exactly this.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")

ID = String(24)
UUID_LEN = String(36)

role = Table(
    "role",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("provenance", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("builtin", Boolean, nullable=False, default=False),
    Column("allowed_methods", Json, nullable=False),
    Column("allowed_views", Json, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
)

account = Table(
    "account",
    metadata,
    Column("id", ID, primary_key=True),
    Column("username", String(200), nullable=False, unique=True),
    Column("provenance", String(200), nullable=False),
    Column("firstname", String(200), nullable=False, default=""),
    Column("email", String(320), nullable=True),
    Column("kind", String(16), nullable=False, default="user"),  # user | service
    Column("client_id", String(64), nullable=True, unique=True),
    Column("secret_hash", String(300), nullable=True),  # scrypt of the password or client secret
    Column("inactive", Boolean, nullable=False, default=False),
    Column("last_login", BigInteger, nullable=True),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
)

group = Table(
    "group",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("provenance", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("inactive", Boolean, nullable=False, default=False),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
)

account_role = Table(
    "account_role",
    metadata,
    Column("account_id", ID, ForeignKey("account.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ID, ForeignKey("role.id", ondelete="CASCADE"), primary_key=True),
)

group_role = Table(
    "group_role",
    metadata,
    Column("group_id", ID, ForeignKey("group.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ID, ForeignKey("role.id", ondelete="CASCADE"), primary_key=True),
)

group_member = Table(
    "group_member",
    metadata,
    Column("group_id", ID, ForeignKey("group.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", ID, ForeignKey("account.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_group_member_account", "account_id"),
)

token = Table(
    "token",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 hex of the token; the token is never stored
    Column("account_id", ID, ForeignKey("account.id", ondelete="CASCADE"), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Index("ix_token_account", "account_id"),
)

workflow = Table(
    "workflow",
    metadata,
    Column("id", UUID_LEN, primary_key=True),
    Column("name", String(500), nullable=False, unique=True),
    Column("document", Json, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("created_by", ID, nullable=True),
    Column("last_updated", BigInteger, nullable=False),
    Column("last_updated_by", ID, nullable=True),
)

job = Table(
    "job",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(500), nullable=False),
    Column("description", Text, nullable=True),
    Column("type", String(40), nullable=False),
    Column("status", String(16), nullable=False),
    Column("workflow", Json, nullable=False),  # snapshot taken at start (decisions §6)
    Column("variables", Json, nullable=False),
    Column("progress", Json, nullable=False),  # per task key: phase, finish_state, iterations, outputs
    Column("error", Json, nullable=True),
    Column("watchers", Json, nullable=False),
    Column("ancestors", Json, nullable=False),
    Column("parent", Json, nullable=True),
    Column("created", BigInteger, nullable=False),
    Column("created_by", ID, nullable=True),
    Column("last_updated", BigInteger, nullable=False),
    Column("last_updated_by", ID, nullable=True),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("initiator", String(200), nullable=False),
    Column("trigger", Json, nullable=True),  # {automationId, triggerId, type, triggeredBy} when a trigger started it
    # the job's group ids, sorted and space-separated ('' = none): GBAC as an index range (store.jobs, ADR 0009)
    Column("visibility", Text, nullable=False, server_default=""),
    Index("ix_job_status_start", "status", "start_time"),
    Index("ix_job_name", "name"),
    Index("ix_job_visibility", "visibility"),
    # SQLite: a path into `variables` reads this instead of the job rows, whose workflow snapshots overflow
    # into extra pages (ADR 0009). Not on PostgreSQL: a B-tree entry there is limited to ~2.7 kB.
    Index("ix_job_visibility_variables", "visibility", "variables", "id").ddl_if(dialect="sqlite"),
)

job_group = Table(
    "job_group",
    metadata,
    Column("job_id", ID, ForeignKey("job.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ID, primary_key=True),
    Column("position", Integer, nullable=False, default=0),
    Index("ix_job_group_group", "group_id"),
)

task = Table(
    "task",
    metadata,
    Column("id", UUID_LEN, primary_key=True),
    Column("job_id", ID, ForeignKey("job.id", ondelete="CASCADE"), nullable=False),
    Column("task_key", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("app", String(200), nullable=False),
    Column("type", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("location", String(16), nullable=False),
    Column("view", String(500), nullable=True),
    Column("owner", ID, nullable=True),
    Column("groups", Json, nullable=False),
    Column("variables", Json, nullable=False),
    Column("metrics", Json, nullable=False),  # the rest of metrics: user, server_id, retrying
    Column("start_time", BigInteger, nullable=False),
    Column("claim_time", BigInteger, nullable=True),
    Column("end_time", BigInteger, nullable=True),
    Column("finish_state", String(16), nullable=True),
    Column("last_updated", BigInteger, nullable=False),
    # work queue for automatic tasks: ready -> leased -> (done | ready again after a wait)
    Column("queue_state", String(8), nullable=True),
    Column("due_at", BigInteger, nullable=True),
    Column("lease_until", BigInteger, nullable=True),
    Column("runtime", Json, nullable=True),  # implementation state between runs (e.g. a delay's wake time)
    Column("visibility", Text, nullable=False, server_default=""),  # its job's (store.jobs, ADR 0009)
    Index("ix_task_job", "job_id", "task_key"),
    Index("ix_task_owner", "owner"),
    Index("ix_task_queue", "queue_state", "due_at"),
    # search (migration 0006, ADR 0009): counts read (visibility, ...) ranges; pages walk (sort key, id)
    Index("ix_task_status_type_start", "status", "type", "start_time", "visibility", "id"),
    Index("ix_task_visibility_start", "visibility", "start_time"),
    Index("ix_task_visibility_name", "visibility", "name"),
    Index("ix_task_start_id", "start_time", "id", "visibility"),
    Index("ix_task_name_id", "name", "id", "visibility"),
    # the inbox (tasks/workable): only manual tasks waiting for a person, with every column its clause reads
    Index("ix_task_waiting", "type", "status", "start_time", "id", "visibility", "owner", "job_id", "groups",
          sqlite_where=text("type = 'manual' AND status = 'running'"),
          postgresql_where=text("type = 'manual' AND status = 'running'")),
)

task_history = Table(
    "task_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", UUID_LEN, ForeignKey("task.id", ondelete="CASCADE"), nullable=False),
    Column("action", String(16), nullable=False),
    Column("by", ID, nullable=False),
    Column("from_owner", ID, nullable=True),
    Column("to_owner", ID, nullable=True),
    Column("detail", Json, nullable=True),
    Column("at", BigInteger, nullable=False),
    Index("ix_task_history_task", "task_id", "id"),
)

# Operations Manager automations and their triggers (ops-manager-api §3.3-3.4, migration 0002)
automation = Table(
    "automation",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(500), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("component_type", String(40), nullable=True),
    Column("component_id", UUID_LEN, nullable=True),  # a workflow id (no foreign key: workflows come and go)
    Column("created", BigInteger, nullable=False),
    Column("created_by", ID, nullable=True),
    Column("last_updated", BigInteger, nullable=False),
    Column("last_updated_by", ID, nullable=True),
)

automation_group = Table(
    "automation_group",
    metadata,
    Column("automation_id", ID, ForeignKey("automation.id", ondelete="CASCADE"), primary_key=True),
    Column("access", String(8), primary_key=True),  # read | write
    Column("group_id", ID, primary_key=True),
    Column("position", Integer, nullable=False, default=0),
    Index("ix_automation_group_group", "group_id"),
)

trigger = Table(
    "trigger",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(500), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("type", String(16), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("action_type", String(20), nullable=False),
    Column("action_id", ID, ForeignKey("automation.id", ondelete="CASCADE"), nullable=False),
    Column("route_name", String(200), nullable=True),  # endpoint triggers only
    Column("document", Json, nullable=False),  # the variant's fields, options, migrationVersion
    Column("last_executed", BigInteger, nullable=True),
    Column("created", BigInteger, nullable=False),
    Column("created_by", ID, nullable=True),
    Column("last_updated", BigInteger, nullable=False),
    Column("last_updated_by", ID, nullable=True),
    # a schedule's next due time (epoch ms); NULL for other types and disabled schedules (migration 0003)
    Column("next_run_at", BigInteger, nullable=True),
    Index("ix_trigger_action", "action_id"),
    Index("ix_trigger_next_run", "next_run_at"),
    Index("ix_trigger_name", "name"),
    # a route name belongs to at most one enabled endpoint trigger
    Index("ux_trigger_enabled_route", "route_name", unique=True,
          sqlite_where=text("enabled = 1 AND route_name IS NOT NULL"),
          postgresql_where=text("enabled AND route_name IS NOT NULL")),
)

# The event outbox (issue #3 scope 7, migration 0004): one row per job or task state change, written in the
# transaction of the change; `id` is the delivery order. No foreign key: events outlive deleted jobs.
event = Table(
    "event",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(200), nullable=False),
    Column("topic", String(100), nullable=False),
    Column("job_id", ID, nullable=False),
    Column("task_id", UUID_LEN, nullable=True),
    Column("payload", Json, nullable=False),  # ids, names, statuses, who: never variable values
    Column("at", BigInteger, nullable=False),
    Index("ix_event_job", "job_id"),
)

# Event delivery (issue #3 scope 7, issue #5 eventSystem triggers, migration 0005): a durable cursor per
# consumer of the outbox (the eventSystem trigger runner, each webhook), leased by one process at a time.
event_consumer = Table(
    "event_consumer",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("last_event_id", Integer, nullable=False),  # every event up to this id is handled
    Column("lease_owner", String(200), nullable=True),
    Column("lease_until", BigInteger, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),  # failed tries of the next event (webhooks)
    Column("retry_at", BigInteger, nullable=True),  # not before this time (back-off)
)

webhook = Table(
    "webhook",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("url", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("document", Json, nullable=False),  # the filter: topics, jobNames, automationIds
    Column("secret", Json, nullable=True),  # the HMAC secret, encrypted (services.secrets)
    Column("created", BigInteger, nullable=False),
    Column("created_by", ID, nullable=True),
    Column("last_updated", BigInteger, nullable=False),
    Column("last_updated_by", ID, nullable=True),
)

webhook_delivery = Table(
    "webhook_delivery",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("webhook_id", ID, ForeignKey("webhook.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", Integer, nullable=False),
    Column("topic", String(100), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("delivered", Boolean, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("next_attempt_at", BigInteger, nullable=True),
    Index("ix_webhook_delivery_webhook", "webhook_id", "id"),
)

# Large variable values stored aside (issue #3 scope 1, migration 0007; services.large_data): a top-level job
# variable or task output above `large_data_bytes`; the job row holds `{"$largeData": id, "size": n}` in its
# place. No foreign key: the delete use cases delete a job's rows with the job.
job_data = Table(
    "job_data",
    metadata,
    Column("id", ID, primary_key=True),
    Column("job_id", ID, nullable=False),
    Column("task_id", UUID_LEN, nullable=True),  # the task iteration whose output it is, if any
    Column("name", Text, nullable=False),  # where it belongs in the job row: /variables/x, /progress/<key>/outgoing/y
    Column("value", Json, nullable=False),  # as the job row would hold it: encrypted values stay encrypted
    Column("size", BigInteger, nullable=False),  # bytes of its compact UTF-8 JSON
    Column("created", BigInteger, nullable=False),
    Index("ix_job_data_job", "job_id"),
)
