#!/usr/bin/env bash
# Runs a command with a Kubernetes API server available: a KUBECONFIG already in the environment wins; otherwise the
# local control plane (cluster.sh) is started when not running and stopped afterwards (unless
# DISTILLERY_KEEP_CLUSTER=1). Also exports the kubectl and CRD paths the deployment tests use.
#
# Usage: scripts/k8s/with_cluster.sh <command> [args…]
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ "$#" -gt 0 ] || { echo "usage: $0 <command> [args…]" >&2; exit 2; }

# Cached: a no-op when installed; on a fresh machine this is the ~10 min cold build (.ci/run does it up front).
bash "$dir/install.sh"
eval "$(bash "$dir/cluster.sh" tool-env)"
if [ -z "${KUBECONFIG:-}" ]; then
  if ! bash "$dir/cluster.sh" status >/dev/null 2>&1; then
    echo "k8s: starting the local API server ($dir/cluster.sh start)" >&2
    bash "$dir/cluster.sh" start
    if [ "${DISTILLERY_KEEP_CLUSTER:-0}" != "1" ]; then
      trap 'echo "k8s: stopping the local API server this run started" >&2; bash "$dir/cluster.sh" stop || true' EXIT
    fi
  fi
  eval "$(bash "$dir/cluster.sh" env)"
fi
export KUBECONFIG DISTILLERY_KUBECTL DISTILLERY_KEDA_CRDS DISTILLERY_PROMETHEUS_CRDS
# Not exec: the EXIT trap must run after the command.
"$@"
