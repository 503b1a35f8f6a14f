"""Encrypted variables (decisions §7, ADR 0007): the key, the cipher, and sealing values at pointers.

A value at the pointer of an `encryption` decorator is stored as
`{"$enc": "v1", "key": <key id>, "at": <where>, "nonce": <b64>, "data": <b64>}`: AES-256-GCM with a
random 96-bit nonce over the JSON text of the value (any JSON type), with associated data binding it to
the job id and to `at` (the place it was sealed, e.g. `/variables/password` or `task:<id>/incoming/x`),
so a ciphertext moved to another job, or altered, fails authentication. A sealed value copied elsewhere
in the same job (a `$var.job.password` incoming) stays sealed and still opens.

The key (32 random bytes) lives in a file named by `OPSMGR_KEY_FILE`; `configure` is called once per
process (the app, the worker) and the file is read when a value first needs it; `ensure_key` (serve)
creates it with mode 0600 when absent and refuses a key file of the wrong size or open to others.
Plaintexts this process decrypted are remembered (bounded) so log lines and task errors can be redacted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from opsmgr.config import Settings
from opsmgr.domain import pointers
from opsmgr.domain.documents import MASK, SEALED, is_sealed, job_pointers
from opsmgr.errors import OpsmgrError, Unavailable

VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
REDACT_MIN_LENGTH = 4  # shorter plaintexts are too common in text to be redacted from it
REMEMBERED = 4096
LOGGERS = ("opsmgr", "opsmgr.engine", "opsmgr.engine.plugins", "opsmgr.api", "opsmgr.access", "opsmgr.auth")

log = logging.getLogger("opsmgr.secrets")


class KeyFileError(Unavailable):
    """The key file is missing (and may not be created here), of the wrong size, or open to others."""


class SecretError(OpsmgrError):
    """An encrypted value cannot be decrypted: altered, moved, or sealed under another key."""


# the key -------------------------------------------------------------------------------------------------


def key_path(settings: Settings) -> Path:
    """`OPSMGR_KEY_FILE`, else `opsmgr.key` next to a SQLite database file, else in the working directory."""
    if settings.key_file:
        return Path(settings.key_file).expanduser()
    url = settings.database_url
    if url.startswith("sqlite") and "///" in url:
        path = url.split("///", 1)[1].split("?", 1)[0]
        if path and path != ":memory:":
            return Path(path).expanduser().parent / "opsmgr.key"
    return Path("opsmgr.key")


def _create(path: Path) -> None:
    """Write a new random key to `path` atomically (a complete file or none), mode 0600 from the start."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(os.urandom(KEY_BYTES))
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temp, path)  # fails if another process created it meanwhile: theirs wins
            log.warning("created a new encryption key %s (mode 0600); keep it with the database backups", path)
        except FileExistsError:
            pass
    finally:
        temp.unlink(missing_ok=True)


def load_key(path: Path, create: bool = False) -> bytes:
    """The 32-byte key in `path` (created when absent and `create`); KeyFileError with what to do."""
    try:
        if create and not path.exists():
            _create(path)
        info = path.stat()
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"the encryption key file {path} is open to group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
                f"make it private with: chmod 600 {path}"
            )
        key = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(
            f"no encryption key file at {path}: start `opsmgr serve` once to create it, or copy the key of the "
            "server that encrypted the data and set OPSMGR_KEY_FILE"
        ) from None
    except OSError as exc:
        raise KeyFileError(f"cannot use the encryption key file {path}: {exc.strerror or exc}") from None
    if len(key) != KEY_BYTES:
        raise KeyFileError(
            f"the encryption key file {path} holds {len(key)} bytes; it must hold exactly {KEY_BYTES} random bytes"
        )
    return key


class Cipher:
    """AES-256-GCM under one key; `key_id` (not secret) tells which key sealed a value."""

    def __init__(self, key: bytes, source: str = "the configured key") -> None:
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(b"opsmgr key id\x00" + key).hexdigest()[:16]
        self.source = source

    @staticmethod
    def _aad(job_id: str, at: str) -> bytes:
        return f"opsmgr/{VERSION}\x00{job_id}\x00{at}".encode()

    def seal(self, value: Any, job_id: str, at: str) -> dict[str, Any]:
        nonce = os.urandom(NONCE_BYTES)
        plaintext = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        data = self._aead.encrypt(nonce, plaintext, self._aad(job_id, at))
        return {
            SEALED: VERSION, "key": self.key_id, "at": at,
            "nonce": base64.b64encode(nonce).decode(), "data": base64.b64encode(data).decode(),
        }

    def open(self, sealed: Any, job_id: str) -> Any:
        at = sealed.get("at")
        where = f"the encrypted value {at}" if isinstance(at, str) else "an encrypted value"
        if sealed.get(SEALED) != VERSION:
            raise SecretError(f"{where} has an unknown format {sealed.get(SEALED)!r} (expected {VERSION!r})")
        key_id = sealed.get("key")
        if key_id is not None and key_id != self.key_id:
            raise SecretError(
                f"{where} was encrypted under key {key_id}, but this process has key {self.key_id} ({self.source}); "
                "every server and worker must use the same OPSMGR_KEY_FILE"
            )
        try:
            nonce = base64.b64decode(sealed["nonce"], validate=True)
            data = base64.b64decode(sealed["data"], validate=True)
            if not isinstance(at, str) or len(nonce) != NONCE_BYTES:
                raise ValueError("malformed")
            plaintext = self._aead.decrypt(nonce, data, self._aad(job_id, at))
        except (KeyError, TypeError, ValueError, binascii.Error, InvalidTag):
            raise SecretError(
                f"{where} of job {job_id} failed authentication: it was altered or does not belong here"
            ) from None
        value = json.loads(plaintext)
        remember(value)
        return value


# the process's key -------------------------------------------------------------------------------------

_lock = threading.RLock()
_source: tuple[Path, bool] | None = None
_cipher: Cipher | None = None


def configure(settings: Settings, create: bool = False) -> Path:
    """Use the key file of `settings` in this process (read when first needed; created then if `create`).
    Also installs the log redaction filter. Returns the key file's path."""
    global _source, _cipher
    path = key_path(settings)
    with _lock:
        _source, _cipher = (path, create), None
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    return path


def ensure_key(settings: Settings) -> Path:
    """For `opsmgr serve`: configure, create the key file if absent, and check it now (KeyFileError)."""
    path = configure(settings, create=True)
    cipher()
    return path


def cipher() -> Cipher:
    """The process's cipher; KeyFileError when the key cannot be used. Without `configure`, the key file
    of the environment's settings is used, never created."""
    global _source, _cipher
    with _lock:
        if _cipher is None:
            if _source is None:
                _source = (key_path(Settings()), False)
            path, create = _source
            _cipher = Cipher(load_key(path, create), str(path))
        return _cipher


# sealing and opening documents -------------------------------------------------------------------------


def _inside_sealed(document: Any, tokens: list[str]) -> bool:
    return any(is_sealed(pointers.get(document, pointers.join(tokens[:i]))) for i in range(len(tokens)))


def seal(document: Any, at: Iterable[str], job_id: str, scope: str, min_depth: int = 1) -> Any:
    """A copy of `document` where the value at each pointer of `at` is encrypted (bound to `job_id` and
    `scope` + pointer). Missing values, nulls, values already encrypted and pointers shallower than
    `min_depth` (the containers themselves) are left as they are."""
    for pointer in at:
        tokens = pointers.parse(pointer)
        if len(tokens) < min_depth or _inside_sealed(document, tokens):
            continue
        value = pointers.get(document, pointer)
        if value is None or is_sealed(value):
            continue
        remember(value)
        sealed = cipher().seal(value, job_id, scope + pointer)
        document = pointers.set_value(document, pointer, sealed)
    return document


def seal_job_variables(job: dict[str, Any]) -> dict[str, Any]:
    """The job's variables encrypted at its workflow decorators' pointers (`/variables/...`)."""
    at = job_pointers((job.get("workflow") or {}).get("decorators"))
    return seal(job["variables"], at, job["id"], "/variables") if at else job["variables"]


def seal_workflow_literals(job: dict[str, Any]) -> dict[str, Any]:
    """The job's workflow snapshot with literal values at its tasks' decorators' pointers encrypted (a
    `$var` reference there names where the value comes from and stays as it is)."""
    tasks = dict(job["workflow"].get("tasks") or {})
    for key, definition in tasks.items():
        declared = definition.get("variables") if isinstance(definition, dict) else None
        if not isinstance(declared, dict):
            continue
        at = [
            p for p in pointers.encryption_pointers(declared.get("decorators"))
            if not (isinstance(v := pointers.get(declared, p), str) and v.startswith("$var."))
        ]
        if at:
            scope = f"/workflow/tasks/{pointers.escape(key)}/variables"
            tasks[key] = {**definition, "variables": seal(declared, at, job["id"], scope, min_depth=2)}
    return {**job["workflow"], "tasks": tasks}


def seal_task_variables(variables: dict[str, Any], job_id: str, task_id: str) -> dict[str, Any]:
    """A task iteration's variables encrypted at its decorators' pointers (`/incoming/x`, `/outgoing/y`)."""
    at = pointers.encryption_pointers(variables.get("decorators"))
    return seal(variables, at, job_id, f"task:{task_id}", min_depth=2) if at else variables


def open_all(value: Any, job_id: str) -> Any:
    """`value` with every encrypted value in it decrypted (SecretError if one fails); the same object when
    it holds none. For handing values to a task only: never store the result."""
    if is_sealed(value):
        return cipher().open(value, job_id)
    if isinstance(value, dict):
        items = {k: open_all(v, job_id) for k, v in value.items()}
        return value if all(items[k] is v for k, v in value.items()) else items
    if isinstance(value, list):
        elements = [open_all(v, job_id) for v in value]
        return value if all(a is b for a, b in zip(elements, value, strict=True)) else elements
    return value


def pick(value: Any, pointer: str, job_id: str) -> Any:
    """What `$var.<source>.<name>#<pointer>` takes from `value` (as `domain.variables.pointer_get`), also
    through encrypted values: a part taken out of an encrypted value is encrypted again."""
    if pointer in ("", "/"):
        return value
    opened_at = None
    for raw in pointer.lstrip("/").split("/"):
        if is_sealed(value):
            opened_at = opened_at or value.get("at")
            value = cipher().open(value, job_id)
        value = pointers.get(value, "/" + raw, pointers.MISSING)
        if value is pointers.MISSING:
            return None
    if opened_at is not None and value is not None and not is_sealed(value):
        return cipher().seal(value, job_id, f"{opened_at}#{pointer}")
    return value


# redaction -----------------------------------------------------------------------------------------------

_remembered: OrderedDict[str, None] = OrderedDict()


def remember(value: Any) -> None:
    """Note the text of a secret value so log lines and task errors can be redacted."""
    texts = [v for _, v in pointers.walk(value) if isinstance(v, str) and len(v) >= REDACT_MIN_LENGTH]
    if not texts:
        return
    with _lock:
        for text in texts:
            _remembered[text] = None
            _remembered.move_to_end(text)
        while len(_remembered) > REMEMBERED:
            _remembered.popitem(last=False)


def redact_text(text: str) -> str:
    if not _remembered:
        return text
    with _lock:
        known = sorted((s for s in _remembered if s in text), key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, MASK)
    return text


def redact(value: Any) -> Any:
    """`value` with every known secret text in its strings replaced by `"****"` (for task errors)."""
    if not _remembered:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {redact_text(str(k)): redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """Masks known secrets in a log record's message and traceback (decisions §7: never in a log line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _remembered:
            return True
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        return True


_FILTER = RedactingFilter()
