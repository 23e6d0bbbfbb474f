#!/usr/bin/env bash
# Runs every test file under test/ (or those given) with node's test runner; Node 20 has no --test globs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -gt 0 ]; then files=("$@"); else mapfile -t files < <(find test -name '*.test.ts' | sort); fi
exec node --import tsx --test --test-reporter=spec "${files[@]}"
