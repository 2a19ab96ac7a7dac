#!/usr/bin/env bash
# Set up and run every check: ruff, mypy, the import layers, then the whole pytest suite (SQLite,
# PostgreSQL and the desk in headless Chromium).
# PostgreSQL comes from TEST_POSTGRES_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test);
# without a server those tests skip with the reason, unless CI=true, where they are required.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
# The desk's browser tests drive Debian's chromium; as root, install it when missing (otherwise they
# skip with the reason, except under CI=true).
if [ "$(id -u)" = 0 ] && ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "Installing chromium for the browser tests..." >&2
  { apt-get install -y -qq chromium || { apt-get update -qq && apt-get install -y -qq chromium; }; } >/dev/null 2>&1 ||
    echo "Could not install chromium; the browser tests will say so." >&2
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy kernel storage handlers bot
.venv/bin/lint-imports
exec .venv/bin/python -m pytest "$@"
