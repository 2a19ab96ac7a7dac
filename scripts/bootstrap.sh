#!/usr/bin/env bash
# Creates .venv with Python 3.11+ and installs the project (with test tools) when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin=""
for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
  [ -n "$candidate" ] || continue
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    python_bin=$candidate
    break
  fi
done
if [ -z "$python_bin" ]; then
  echo "Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)." >&2
  exit 1
fi

stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ -f "$stamp" ] && [ -x .venv/bin/python ]; then
  exit 0
fi
# One line of progress; the installer's own output only when something fails.
echo "Setting up .venv (first run, or pyproject.toml changed): a minute or two..." >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! {
  { [ -x .venv/bin/python ] || "$python_bin" -m venv .venv; } &&
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip &&
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
} >"$log" 2>&1; then
  cat "$log" >&2
  echo "Setting up .venv failed (the installer's output is above)." >&2
  exit 1
fi
rm -f .venv/.installed-*
touch "$stamp"
