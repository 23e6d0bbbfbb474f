# Shared settings of scripts/k8s/*.sh (sourced, not run): versions and where builds, CRDs and state live.
# Everything is outside the repo, under ~/.cache/distillery/k8s unless DISTILLERY_K8S_HOME says otherwise.

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
KEDA_VERSION="${KEDA_VERSION:-v2.21.0}"
PROMETHEUS_OPERATOR_VERSION="${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.14.7}"

K8S_HOME="${DISTILLERY_K8S_HOME:-$HOME/.cache/distillery/k8s}"
K8S_BIN_DIR="$K8S_HOME/$K8S_VERSION/bin"
KEDA_CRD_DIR="$K8S_HOME/keda-$KEDA_VERSION/crds"
PROMETHEUS_CRD_DIR="$K8S_HOME/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION/crds"
# The node's own builds (install.sh --node): cluster DNS and the pod sandbox process.
COREDNS_BIN="$K8S_HOME/coredns-$COREDNS_VERSION/bin/coredns"
PAUSE_BIN="$K8S_HOME/node/pause"

k8s_say() { printf '%s\n' "$*" >&2; }
k8s_die() { printf 'k8s: error: %s\n' "$*" >&2; exit 1; }
