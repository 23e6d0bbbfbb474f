#!/usr/bin/env bash
# Runs every test file under test/ (or those given) with node's test runner; Node 20 has no --test globs.
# Files that use Kafka or S3 run with the local services (scripts/services/with_services.sh: started when not
# running, stopped afterwards); KAFKA_BROKERS / S3_ENDPOINT already in the environment always win. Files that use
# Kubernetes (test/helpers/k8s.ts) run with a local API server the same way (scripts/k8s/with_cluster.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# The native TensorFlow backend's tests need @tensorflow/tfjs-node, which is no npm dependency (its own install
# downloads from a host many machines cannot reach): built from PyPI once, then restored from the cache in seconds.
bash scripts/tfjs-node/install.sh cpu
# test/docker/ needs Docker and the built images: `npm run test:docker` (scripts/docker/test.sh) runs it; test/k8s/node/
# needs a real node too: `npm run test:k8s` (scripts/k8s/test_node.sh).
if [ "$#" -gt 0 ]; then files=("$@"); else mapfile -t files < <(find test -name '*.test.ts' -not -path 'test/docker/*' -not -path 'test/k8s/node/*' | sort); fi
# A hang guard: a test that waits forever fails after 15 minutes instead of holding CI (tests may set their own).
run=(node --import tsx --test --test-timeout=900000 --test-reporter=spec "${files[@]}")
if grep -lE "helpers/k8s\.ts" "${files[@]}" >/dev/null 2>&1; then
  run=(bash scripts/k8s/with_cluster.sh "${run[@]}")
fi
if grep -lE "helpers/(kafka|s3|stage_process)\.ts" "${files[@]}" >/dev/null 2>&1; then
  exec bash scripts/services/with_services.sh "${run[@]}"
fi
exec "${run[@]}"
