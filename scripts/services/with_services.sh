#!/usr/bin/env bash
# Runs a command with Kafka and the S3 server available: starts them when they are not running (and stops them
# afterwards unless DISTILLERY_KEEP_SERVICES=1) and exports their addresses and credentials. KAFKA_BROKERS /
# S3_ENDPOINT already in the environment always win (an S3_ENDPOINT comes with the caller's own credentials).
#
# Usage: scripts/services/with_services.sh <command> [args…]
set -euo pipefail
services="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/services.sh"
[ "$#" -gt 0 ] || { echo "usage: $0 <command> [args…]" >&2; exit 2; }

if [ -z "${KAFKA_BROKERS:-}" ] || [ -z "${S3_ENDPOINT:-}" ]; then
  if ! bash "$services" status >/dev/null 2>&1; then
    echo "services: starting Kafka and the S3 server ($services start)" >&2
    bash "$services" start
    if [ "${DISTILLERY_KEEP_SERVICES:-0}" != "1" ]; then
      trap 'echo "services: stopping the services this run started" >&2; bash "$services" stop >/dev/null || true' EXIT
    fi
  fi
  if [ -n "${S3_ENDPOINT:-}" ]; then
    eval "$(bash "$services" env | grep '^export KAFKA_BROKERS=')"
  else
    given_brokers="${KAFKA_BROKERS:-}"
    eval "$(bash "$services" env)"
    if [ -n "$given_brokers" ]; then KAFKA_BROKERS="$given_brokers"; fi
  fi
  export KAFKA_BROKERS S3_ENDPOINT
fi
# Not exec: the EXIT trap must run after the command.
"$@"
