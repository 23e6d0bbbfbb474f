#!/usr/bin/env bash
# Runs a command with a Kubernetes API server available: a KUBECONFIG already in the environment wins; otherwise the
# local control plane (cluster.sh) is started when not running and stopped afterwards (unless
# DISTILLERY_KEEP_CLUSTER=1). Also exports the kubectl and CRD paths the deployment tests use.
#
# Usage: scripts/k8s/with_cluster.sh [--node] <command> [args…]
#   --node   with a real node (cluster.sh start --node): a running API server without one gets a node added
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
node=()
if [ "${1:-}" = --node ]; then node=(--node); shift; fi
[ "$#" -gt 0 ] || { echo "usage: $0 [--node] <command> [args…]" >&2; exit 2; }

# Cached: a no-op when installed; on a fresh machine this is the ~10 min cold build (.ci/run does it up front).
bash "$dir/install.sh" "${node[@]}"
eval "$(bash "$dir/cluster.sh" tool-env)"
if [ -z "${KUBECONFIG:-}" ]; then
  running=false
  if [ "${#node[@]}" -gt 0 ]; then
    bash "$dir/cluster.sh" status 2>/dev/null | grep -q '^node .*: running' && running=true
  else
    bash "$dir/cluster.sh" status >/dev/null 2>&1 && running=true
  fi
  if ! $running; then
    echo "k8s: starting the local cluster ($dir/cluster.sh start ${node[*]})" >&2
    bash "$dir/cluster.sh" start "${node[@]}"
    if [ "${DISTILLERY_KEEP_CLUSTER:-0}" != "1" ]; then
      trap 'echo "k8s: stopping the local cluster this run started" >&2; bash "$dir/cluster.sh" stop || true' EXIT
    fi
  fi
  eval "$(bash "$dir/cluster.sh" env)"
fi
export KUBECONFIG DISTILLERY_KUBECTL DISTILLERY_KEDA_CRDS DISTILLERY_PROMETHEUS_CRDS
# Not exec: the EXIT trap must run after the command.
"$@"
