#!/usr/bin/env bash
# Set up and run every check: ruff, mypy, the import layers, then the whole pytest suite (SQLite and PostgreSQL).
# PostgreSQL comes from TEST_POSTGRES_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test);
# without a server those tests skip with the reason, unless CI=true, where they are required.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy kernel storage handlers bot
.venv/bin/lint-imports
exec .venv/bin/python -m pytest "$@"
