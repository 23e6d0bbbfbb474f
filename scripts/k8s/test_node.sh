#!/usr/bin/env bash
# The level-2 Kubernetes tests (test/k8s/node/): Docker and the project's images, the node's binaries, then the tests
# on a real node — started when none runs and stopped afterwards (scripts/k8s/with_cluster.sh --node).
#
# Usage: scripts/k8s/test_node.sh [test files…]     (npm run test:k8s; default: every test/k8s/node/*.test.ts)
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/docker/install.sh
bash scripts/docker/build-images.sh
bash scripts/k8s/install.sh --node
if [ "$#" -gt 0 ]; then files=("$@"); else mapfile -t files < <(find test/k8s/node -name '*.test.ts' | sort); fi
exec bash scripts/k8s/with_cluster.sh --node bash scripts/test.sh "${files[@]}"
