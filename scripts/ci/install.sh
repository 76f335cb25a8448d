#!/usr/bin/env bash
# Install reconciler into its own virtualenv and put it on the PATH of later steps.
#   PACKAGE    what to pip install (default: this repository, the action's own
#              checkout, so the action and the reconciler are the same version)
#   VENV       where (default: $RUNNER_TEMP/reconciler-venv)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
package=${PACKAGE:-}
[ -n "$package" ] || package=$(cd "$here/../.." && pwd)
venv=${VENV:-${RUNNER_TEMP:-/tmp}/reconciler-venv}
python=${PYTHON:-python3}
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$package"
"$venv/bin/reconciler" --version
if [ -n "${GITHUB_PATH:-}" ]; then
  echo "$venv/bin" >>"$GITHUB_PATH"
fi
