"""Settings, from the environment (prefix OPSMGR_) or given explicitly; never read at import time."""

from __future__ import annotations

import os
import socket

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPSMGR_", extra="ignore")

    database_url: str = "sqlite:///./opsmgr.db"
    host: str = "127.0.0.1"
    port: int = 3000
    admin_password: str = "admin"
    token_ttl_seconds: int = Field(default=8 * 3600, ge=60)
    # how long a verified Basic credential or token stays cached in one process
    auth_cache_seconds: float = Field(default=2.0, ge=0)
    engine_workers: int = Field(default=4, ge=0)
    engine_poll_seconds: float = Field(default=0.5, gt=0)
    # how often the engine fires due schedule triggers (services.schedules); 0 turns the scheduler off
    schedule_poll_seconds: float = Field(default=1.0, ge=0)
    # event delivery (services.event_triggers, services.webhooks): how often the outbox is read (0: off), how
    # long one process keeps a consumer's lease, and the webhook retry back-off (base doubling, capped)
    event_poll_seconds: float = Field(default=0.5, ge=0)
    event_lease_seconds: float = Field(default=30.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_retry_base_seconds: float = Field(default=1.0, gt=0)
    webhook_retry_max_seconds: float = Field(default=300.0, gt=0)
    lease_seconds: int = Field(default=300, ge=1)
    server_id: str = Field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    db_pool_size: int = Field(default=16, ge=1)
    # threads that run database work for requests (see AppState.run); beyond it, requests queue in order
    db_threads: int = Field(default=8, ge=1)
    log_level: str = "info"
    # the 32-byte key of encrypted variables (decisions §7); default: opsmgr.key next to a SQLite database
    # file, else in the working directory. `opsmgr serve` creates it (mode 0600) when absent.
    key_file: str | None = None
    # a top-level job variable or task output whose JSON is larger than this (bytes) is stored aside, in
    # job_data, and the job row holds a reference to it (GET /operations-manager/large-data/:id)
    large_data_bytes: int = Field(default=64 * 1024, ge=1)
