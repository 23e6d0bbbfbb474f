#!/usr/bin/env bash
# Runs every test file under test/ (or those given) with node's test runner; Node 20 has no --test globs.
# Files that use Kafka or S3 get the local services (scripts/services/services.sh), started here when they are not
# running and stopped again afterwards; KAFKA_BROKERS / S3_ENDPOINT already in the environment always win.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -gt 0 ]; then files=("$@"); else mapfile -t files < <(find test -name '*.test.ts' | sort); fi

needs_services() { grep -lE "helpers/(kafka|s3|stage_process)\.ts" "${files[@]}" >/dev/null 2>&1; }

if needs_services && { [ -z "${KAFKA_BROKERS:-}" ] || [ -z "${S3_ENDPOINT:-}" ]; }; then
  services=scripts/services/services.sh
  if ! bash "$services" status >/dev/null 2>&1; then
    echo "test: starting Kafka and the S3 server for the integration tests ($services start)" >&2
    bash "$services" start
    if [ "${DISTILLERY_KEEP_SERVICES:-0}" != "1" ]; then
      trap 'echo "test: stopping the services this run started" >&2; bash scripts/services/services.sh stop >/dev/null || true' EXIT
    fi
  fi
  # Values the caller set win over the local ones.
  if [ -n "${S3_ENDPOINT:-}" ]; then
    # The caller's S3 server, with the caller's credentials: only Kafka comes from here.
    eval "$(bash "$services" env | grep '^export KAFKA_BROKERS=')"
  else
    given_brokers="${KAFKA_BROKERS:-}"
    eval "$(bash "$services" env)"
    if [ -n "$given_brokers" ]; then KAFKA_BROKERS="$given_brokers"; fi
  fi
  export KAFKA_BROKERS S3_ENDPOINT
fi

node --import tsx --test --test-reporter=spec "${files[@]}"
