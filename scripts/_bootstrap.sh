# Sourced by scripts/demo.sh and scripts/test.sh: make .venv with Python 3.11 and install the
# pinned set (requirements.lock). The project itself runs from this folder (manage.py, pytest's
# rootdir), so it is not installed. Re-installs only when the lock or pyproject.toml changes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON_BIN="${PYTHON:-}"
if [ -z "$PYTHON_BIN" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PYTHON_BIN="$candidate"; break
    fi
  done
fi
if [ -z "$PYTHON_BIN" ]; then
  echo "Python 3.11 is needed (set PYTHON=/path/to/python3.11)." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON_BIN" -m venv .venv
fi
stamp=.venv/.installed-$(cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -r requirements.lock
  rm -f .venv/.installed-*
  touch "$stamp"
fi
PY="$ROOT/.venv/bin/python"
export PATH="$ROOT/.venv/bin:$PATH"
