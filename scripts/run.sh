#!/usr/bin/env bash
# Set up and run the bot: Telegram polling when TELEGRAM_BOT_TOKEN is set (environment or .env),
# otherwise the console chat. The embedded SQLite database lives in ./data/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
token=${TELEGRAM_BOT_TOKEN:-}
if [ -z "$token" ] && [ -f .env ]; then
  token=$(sed -n 's/^TELEGRAM_BOT_TOKEN=//p' .env | tail -n 1 | tr -d '"'"'"' ')
fi
if [ -n "$token" ]; then
  exec .venv/bin/damrongtham run "$@"
fi
echo "TELEGRAM_BOT_TOKEN is not set: starting the console chat instead." >&2
exec .venv/bin/damrongtham console "$@"
