#!/usr/bin/env bash
# bench/peers/setup.sh — makes the Python venv of the bench peers (.build/bench-venv) and installs
# bench/peers/requirements.txt into it from PyPI, only what is not already there at the pinned
# version. Idempotent: a second run changes nothing and takes well under a second.
#
# Its only stdout line is the venv's python, so a caller can write
#   PY=$(bench/peers/setup.sh) && "$PY" bench/peers/ws_echo.py --port 0
# Progress and errors go to stderr. Needs python3 (3.11 or newer, for websockets 17) with the venv module
# (Debian: apt-get install python3-venv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

VENV=.build/bench-venv
REQUIREMENTS=bench/peers/requirements.txt
PY=$VENV/bin/python

say() { printf '%s\n' "$*" >&2; }

command -v python3 >/dev/null 2>&1 || { say "bench/peers/setup.sh: python3 is required"; exit 1; }

if [[ ! -x "$PY" ]]; then
    say "creating $VENV (python3 -m venv)"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV" >&2 || {
        say "bench/peers/setup.sh: python3 -m venv failed (Debian: apt-get install python3-venv)"
        exit 1
    }
fi

# Every `name==version` line of the requirements must be installed at exactly that version.
satisfied() {
    "$PY" - "$REQUIREMENTS" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version

for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, want = line.partition("==")
    try:
        have = version(name.strip())
    except PackageNotFoundError:
        sys.exit(1)
    if have != want.strip():
        sys.exit(1)
EOF
}

if satisfied; then
    say "ok: $REQUIREMENTS in $VENV"
else
    say "installing $REQUIREMENTS into $VENV (pip, PyPI)"
    "$PY" -m pip install --quiet --disable-pip-version-check --require-virtualenv -r "$REQUIREMENTS" >&2
    satisfied || { say "bench/peers/setup.sh: pip ran but $REQUIREMENTS is still not satisfied"; exit 1; }
fi

printf '%s/%s\n' "$PWD" "$PY"
