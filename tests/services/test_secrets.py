"""The key file, the cipher and sealing at pointers (decisions §7, ADR 0007)."""

from __future__ import annotations

import base64
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsmgr.config import Settings
from opsmgr.domain.documents import MASK
from opsmgr.services import secrets

JOB = "65a1b2c3d4e5f60718293a4b"


@pytest.fixture
def key_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "test.key"
    secrets.ensure_key(Settings(key_file=str(path)))
    yield path
    secrets.configure(Settings(key_file=str(path)))


def test_key_is_created_with_mode_0600(tmp_path: Path):
    path = tmp_path / "new.key"
    assert secrets.ensure_key(Settings(key_file=str(path))) == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes()) == 32
    before = path.read_bytes()
    secrets.ensure_key(Settings(key_file=str(path)))  # a second start keeps it
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["new.key"]


def test_open_key_file_is_refused(tmp_path: Path):
    path = tmp_path / "open.key"
    path.write_bytes(os.urandom(32))
    path.chmod(0o640)
    with pytest.raises(secrets.KeyFileError, match="chmod 600"):
        secrets.ensure_key(Settings(key_file=str(path)))


def test_key_of_wrong_size_is_refused(tmp_path: Path):
    path = tmp_path / "short.key"
    path.write_bytes(b"0123456789")
    path.chmod(0o600)
    with pytest.raises(secrets.KeyFileError, match="holds 10 bytes"):
        secrets.ensure_key(Settings(key_file=str(path)))


def test_missing_key_is_not_created_outside_serve(tmp_path: Path):
    path = tmp_path / "absent.key"
    secrets.configure(Settings(key_file=str(path)))
    with pytest.raises(secrets.KeyFileError, match="no encryption key file"):
        secrets.cipher()
    assert not path.exists()


def test_default_key_path():
    assert secrets.key_path(Settings(database_url="sqlite:////srv/data/ops.db")) == Path("/srv/data/opsmgr.key")
    assert secrets.key_path(Settings(database_url="sqlite:///./opsmgr.db")) == Path("opsmgr.key")
    assert secrets.key_path(Settings(database_url="postgresql://x@h/db")) == Path("opsmgr.key")
    assert secrets.key_path(Settings(key_file="/etc/opsmgr/key")) == Path("/etc/opsmgr/key")


@pytest.mark.parametrize("value", ["s3cret", 42, 1.5, True, None, ["a", 1], {"user": "u", "pw": "p"}])
def test_any_json_value_round_trips(key_file, value):
    sealed = secrets.cipher().seal(value, JOB, "/variables/x")
    assert set(sealed) == {"$enc", "key", "at", "nonce", "data"}
    assert len(base64.b64decode(sealed["nonce"])) == 12
    assert secrets.cipher().open(sealed, JOB) == value


def test_nonce_is_random(key_file):
    one, two = (secrets.cipher().seal("same", JOB, "/variables/x") for _ in range(2))
    assert one["nonce"] != two["nonce"] and one["data"] != two["data"]


def test_tampering_moving_or_another_key_fails_clearly(key_file, tmp_path):
    sealed = secrets.cipher().seal("s3cret", JOB, "/variables/x")
    data = bytearray(base64.b64decode(sealed["data"]))
    data[0] ^= 1
    with pytest.raises(secrets.SecretError, match="failed authentication"):
        secrets.cipher().open({**sealed, "data": base64.b64encode(bytes(data)).decode()}, JOB)
    with pytest.raises(secrets.SecretError, match="failed authentication"):
        secrets.cipher().open({**sealed, "at": "/variables/y"}, JOB)  # moved to another pointer
    with pytest.raises(secrets.SecretError, match="failed authentication"):
        secrets.cipher().open(sealed, "ffffffffffffffffffffffff")  # moved to another job
    with pytest.raises(secrets.SecretError, match="failed authentication"):
        secrets.cipher().open({**sealed, "nonce": "%%%"}, JOB)
    secrets.ensure_key(Settings(key_file=str(tmp_path / "other.key")))
    with pytest.raises(secrets.SecretError, match=r"encrypted under key .* this process has key"):
        secrets.cipher().open(sealed, JOB)


def test_seal_at_pointers_with_escapes(key_file):
    variables = {"a/b~c": "p1", "creds": {"pw": "p2", "user": "u"}, "list": ["p3", "x"], "none": None, "n": 1}
    at = ["/a~1b~0c", "/creds/pw", "/list/0", "/none", "/missing", "/creds/pw"]
    sealed = secrets.seal(variables, at, JOB, "/variables")
    assert sealed["a/b~c"]["at"] == "/variables/a~1b~0c"
    assert sealed["creds"]["user"] == "u" and sealed["creds"]["pw"]["$enc"] == "v1"
    assert sealed["list"][1] == "x" and sealed["list"][0]["$enc"] == "v1"
    assert sealed["none"] is None and sealed["n"] == 1
    assert variables["creds"]["pw"] == "p2"  # the input is not changed
    assert secrets.open_all(sealed, JOB) == variables
    assert secrets.seal(sealed, at, JOB, "/variables") == sealed  # idempotent


def test_pick_through_an_encrypted_value_encrypts_the_part(key_file):
    whole = secrets.cipher().seal({"pw": "p", "user": "u"}, JOB, "/variables/creds")
    part = secrets.pick(whole, "/pw", JOB)
    assert part["$enc"] == "v1" and part["at"] == "/variables/creds#/pw"
    assert secrets.open_all(part, JOB) == "p"
    assert secrets.pick({"a": [1, 2]}, "/a/1", JOB) == 2
    assert secrets.pick(whole, "/nothing", JOB) is None


def test_known_secrets_are_redacted_from_logs_and_errors(key_file, caplog):
    secrets.open_all(secrets.cipher().seal({"pw": "hunter2-pass"}, JOB, "/variables/c"), JOB)
    assert secrets.redact({"message": "login failed for hunter2-pass"}) == {"message": f"login failed for {MASK}"}
    with caplog.at_level(logging.INFO, logger="opsmgr.engine"):
        logging.getLogger("opsmgr.engine").info("task raised: %s", "bad password hunter2-pass")
        try:
            raise RuntimeError("hunter2-pass")
        except RuntimeError:
            logging.getLogger("opsmgr.engine").exception("worker failed")
    assert "hunter2-pass" not in caplog.text
    assert f"bad password {MASK}" in caplog.text
