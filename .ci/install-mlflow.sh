#!/usr/bin/env bash
# Install MLflow into its own virtual environment and print the path of its `mlflow` executable.
#
# The integration tests start a real `mlflow server` from this executable. MLflow pulls in
# hundreds of megabytes of dependencies, so it lives outside the project venv.
#
# Environment:
#   FISHWATCH_MLFLOW_VENV     venv directory (default: $HOME/.cache/fishwatch/mlflow-venv)
#   FISHWATCH_MLFLOW_VERSION  MLflow version to install (default: the pin below)
#   FISHWATCH_MLFLOW_PYTHON   interpreter that creates the venv (default: python3)
#
# Idempotent: when the venv already has the requested version, the script only prints the path.
# Usage: .ci/install-mlflow.sh, then
#   FISHWATCH_TEST_MLFLOW_BIN="$(.ci/install-mlflow.sh)" pytest -m mlflow
set -euo pipefail

venv="${FISHWATCH_MLFLOW_VENV:-$HOME/.cache/fishwatch/mlflow-venv}"
version="${FISHWATCH_MLFLOW_VERSION:-3.17.2}"
python="${FISHWATCH_MLFLOW_PYTHON:-python3}"
mlflow_bin="$venv/bin/mlflow"

installed_version() {
    "$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mlflow"))' 2>/dev/null || true
}

if [[ -x "$mlflow_bin" && "$(installed_version)" == "$version" ]]; then
    echo "$mlflow_bin"
    exit 0
fi

# Progress goes to stderr, so stdout carries only the executable's path.
echo "install-mlflow: installing mlflow==$version into $venv" >&2
if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv" >&2
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "mlflow==$version" >&2

if [[ "$(installed_version)" != "$version" ]]; then
    echo "install-mlflow: mlflow $version is not importable from $venv after pip install" >&2
    exit 1
fi
echo "$mlflow_bin"
