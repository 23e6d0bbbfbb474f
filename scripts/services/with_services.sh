#!/usr/bin/env bash
# Runs a command with Kafka and the S3 server available, and exports their addresses and credentials:
# 1. KAFKA_BROKERS / S3_ENDPOINT already in the environment always win (an S3_ENDPOINT comes with the caller's own
#    credentials);
# 2. where Docker runs and the dev images are built (scripts/docker/build-images.sh), fresh containers started with
#    testcontainers (scripts/docker/with_containers.ts) and removed afterwards;
# 3. otherwise scripts/services/services.sh: started when not running (and stopped afterwards unless
#    DISTILLERY_KEEP_SERVICES=1).
# DISTILLERY_SERVICES=containers|processes forces 2 or 3 (default auto: 2 when usable, else 3 with a line saying why).
#
# Usage: scripts/services/with_services.sh <command> [args…]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
services="$here/services.sh"
repo="$(cd "$here/../.." && pwd)"
[ "$#" -gt 0 ] || { echo "usage: $0 <command> [args…]" >&2; exit 2; }

# Why containers cannot be used here, or nothing when they can.
containers_unusable() {
  command -v docker >/dev/null 2>&1 || { echo "no docker command"; return; }
  timeout 20 docker info >/dev/null 2>&1 || { echo "docker info does not answer"; return; }
  local image
  for image in distillery/kafka:3.9.1 distillery/versitygw:1.8.0; do
    docker image inspect "$image" >/dev/null 2>&1 || { echo "image $image not built (scripts/docker/build-images.sh)"; return; }
  done
  [ -d "$repo/node_modules/testcontainers" ] || echo "testcontainers not installed (npm ci)"
}

mode="${DISTILLERY_SERVICES:-auto}"
case "$mode" in auto | containers | processes) ;; *) echo "DISTILLERY_SERVICES must be auto, containers or processes, got '$mode'" >&2; exit 2 ;; esac

if { [ -z "${KAFKA_BROKERS:-}" ] || [ -z "${S3_ENDPOINT:-}" ]; } && [ "$mode" != processes ]; then
  why="$(containers_unusable)"
  if [ -z "$why" ]; then
    marker="$(mktemp)"
    status=0
    DISTILLERY_CONTAINERS_STARTED="$marker" TESTCONTAINERS_RYUK_DISABLED="${TESTCONTAINERS_RYUK_DISABLED:-true}" \
      node --import tsx "$repo/scripts/docker/with_containers.ts" "$@" || status=$?
    if [ -s "$marker" ]; then
      rm -f "$marker"
      exit "$status"
    fi
    rm -f "$marker"
    why="the containers did not start (see above)"
  fi
  [ "$mode" = containers ] && { echo "services: DISTILLERY_SERVICES=containers, but $why" >&2; exit 1; }
  echo "services: not using containers: $why; using scripts/services instead" >&2
fi

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
