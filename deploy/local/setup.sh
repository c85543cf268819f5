#!/usr/bin/env bash
# deploy/local/setup.sh — the Python venv with moto's server (DynamoDB, S3) for the deploy tests.
# Idempotent: skipped when .build/moto-venv already has this requirements file installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
VENV=.build/moto-venv
REQ=deploy/local/requirements.txt
if [[ -x "$VENV/bin/python" && -f "$VENV/.installed" ]] && cmp -s "$REQ" "$VENV/.installed"; then
    echo "ok: moto $("$VENV/bin/python" -c 'import moto; print(moto.__version__)') in $VENV"
    exit 0
fi
echo "installing moto[server] into $VENV (PyPI) — about 30 s"
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
cp "$REQ" "$VENV/.installed"
echo "ok: moto $("$VENV/bin/python" -c 'import moto; print(moto.__version__)') in $VENV"
