#!/usr/bin/env bash
# The whole test suite: lint, types, then every test on SQLite and again on PostgreSQL.
# PostgreSQL: a throw-away database is created on the server named by OPSMGR_TEST_PG_ADMIN_URL
# (default postgresql://postgres@127.0.0.1:5432/postgres) and dropped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
ADMIN_URL=${OPSMGR_TEST_PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
DB_NAME="opsmgr_test_$$_$RANDOM"

pg() {  # run one statement on the admin database
  "$PY" - "$ADMIN_URL" "$1" <<'PYEOF'
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute(sys.argv[2])
PYEOF
}

echo "== ruff"; "$VENV/bin/ruff" check src tests benchmarks
echo "== mypy"; "$VENV/bin/mypy"
echo "== example plugin"; "$VENV/bin/pip" install -q -e examples/opsmgr-example-adapter
example_status=0
"$PY" -m pytest -q -p no:cacheprovider examples/opsmgr-example-adapter/tests || example_status=$?

echo "== tests on SQLite"
sqlite_status=0
env -u OPSMGR_TEST_DATABASE_URL "$PY" -m pytest -q -p no:cacheprovider tests || sqlite_status=$?

echo "== tests on PostgreSQL ($DB_NAME)"
pg_status=0
pg "CREATE DATABASE $DB_NAME"
trap 'pg "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" || true' EXIT
PG_URL="${ADMIN_URL%/*}/$DB_NAME"
OPSMGR_TEST_DATABASE_URL="$PG_URL" "$PY" -m pytest -q -p no:cacheprovider tests || pg_status=$?

echo "== example plugin exit $example_status, SQLite exit $sqlite_status, PostgreSQL exit $pg_status"
[ "$example_status" -eq 0 ] && [ "$sqlite_status" -eq 0 ] && [ "$pg_status" -eq 0 ]
