#!/usr/bin/env bash
# Starts, stops and describes a local Kubernetes control plane (etcd + kube-apiserver on 127.0.0.1) for tests.
#
# Usage: scripts/k8s/cluster.sh start [--node]|stop|status|env|load IMAGE…
#   start   fresh etcd + API server with locally generated certificates; returns once /readyz answers
#   start --node  also a real node (node.sh): containerd, kubelet, kube-proxy, controller-manager, scheduler, bridge
#           CNI, CoreDNS, with the project's Docker images loaded; returns once the node is Ready (root, Docker)
#   stop    stops everything (by pid, waited for), removes the node's pods, network and mounts and the state
#   status  exit 0 when the API server is ready (and says whether a node runs)
#   env     prints `export KUBECONFIG=…` and the paths tests need (kubectl, CRD directories)
#   load    copies Docker images into the running node's containerd
# Level 1 of the deployment tests: a real API server validates and stores objects (schemas, CRDs, CEL rules,
# pod security) but no node runs pods. Level 2 (--node): pods from our images run. Binaries come from
# scripts/k8s/install.sh (--node for level 2).
#
# Environment: K8S_API_PORT (default 16443), K8S_ETCD_PORT (12379; the peer port is the next one),
# DISTILLERY_K8S_STATE_DIR (default $DISTILLERY_K8S_HOME/state), DISTILLERY_K8S_TIMEOUT (seconds, default 90);
# for the node: K8S_KUBELET_PORT (10250), K8S_POD_CIDR (10.244.0.0/24), K8S_BRIDGE (distillery0),
# DISTILLERY_K8S_IMAGES (the Docker images loaded at start; default the project's three).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
. "$SCRIPT_DIR/common.sh"

HOST=127.0.0.1
API_PORT="${K8S_API_PORT:-16443}"
ETCD_PORT="${K8S_ETCD_PORT:-12379}"
STATE_DIR="${DISTILLERY_K8S_STATE_DIR:-$K8S_HOME/state}"
TIMEOUT="${DISTILLERY_K8S_TIMEOUT:-90}"
PKI="$STATE_DIR/pki"
KUBECONFIG_FILE="$STATE_DIR/admin.kubeconfig"

for port_var in API_PORT ETCD_PORT; do
  [[ "${!port_var}" =~ ^[0-9]{1,5}$ ]] && ((${!port_var} >= 1024 && ${!port_var} < 65535)) ||
    k8s_die "$port_var must be a TCP port in 1024–65534, got '${!port_var}'"
done
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || k8s_die "DISTILLERY_K8S_TIMEOUT must be whole seconds, got '$TIMEOUT'"
ETCD_PEER_PORT=$((ETCD_PORT + 1))
[ "$API_PORT" != "$ETCD_PORT" ] && [ "$API_PORT" != "$ETCD_PEER_PORT" ] || k8s_die "K8S_API_PORT collides with the etcd ports"

# One caller at a time per state dir: concurrent test runs must not start two clusters on the same ports.
take_lock() {
  mkdir -p "$STATE_DIR"
  exec 9>"$STATE_DIR/.lock"
  flock -w 300 9 || k8s_die "timed out waiting for the lock $STATE_DIR/.lock"
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# A pid counts only while its command line is still ours, so a recycled pid is never signalled.
live_pid() { # <name> → prints the pid when that process runs
  local file="$STATE_DIR/$1.pid" pid
  [ -f "$file" ] || return 1
  pid="$(cat "$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$STATE_DIR" || return 1
  printf '%s' "$pid"
}

api_ready() {
  [ -f "$PKI/admin.crt" ] || return 1
  curl -sf --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://$HOST:$API_PORT/readyz" >/dev/null 2>&1
}

# ------------------------------------------------------------------------------------------- certificates

# A throwaway CA signs the API server's serving certificate and an admin client certificate (system:masters);
# the API server signs service-account tokens with its own key pair.
make_pki() {
  command -v openssl >/dev/null 2>&1 || k8s_die "openssl not found on PATH (apt-get install -y openssl)"
  rm -rf "$PKI" && mkdir -p "$PKI" && chmod 700 "$PKI"
  (
    cd "$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -keyout ca.key -out ca.crt -subj "/CN=distillery-local-ca" 2>/dev/null
    cat >apiserver.ext <<EOF
subjectAltName = IP:127.0.0.1, IP:10.96.0.1, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc
extendedKeyUsage = serverAuth
EOF
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    printf 'extendedKeyUsage = clientAuth\n' >client.ext
    openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=distillery-admin" 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile client.ext -out admin.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f ./*.csr ./*.ext
  )
  "$K8S_BIN_DIR/kubectl" config set-cluster local --server="https://$HOST:$API_PORT" \
    --certificate-authority="$PKI/ca.crt" --embed-certs --kubeconfig="$KUBECONFIG_FILE" >/dev/null
  "$K8S_BIN_DIR/kubectl" config set-credentials admin --client-certificate="$PKI/admin.crt" \
    --client-key="$PKI/admin.key" --embed-certs --kubeconfig="$KUBECONFIG_FILE" >/dev/null
  "$K8S_BIN_DIR/kubectl" config set-context local --cluster=local --user=admin --kubeconfig="$KUBECONFIG_FILE" >/dev/null
  "$K8S_BIN_DIR/kubectl" config use-context local --kubeconfig="$KUBECONFIG_FILE" >/dev/null
  chmod 600 "$KUBECONFIG_FILE"
}

# ----------------------------------------------------------------------------------------------- commands

start() { # [--node]
  local with_node=false
  [ "${1:-}" != --node ] || with_node=true
  command -v etcd >/dev/null 2>&1 && [ -x "$K8S_BIN_DIR/kube-apiserver" ] && [ -x "$K8S_BIN_DIR/kubectl" ] ||
    k8s_die "etcd or kube-apiserver $K8S_VERSION is not installed: run scripts/k8s/install.sh"
  take_lock
  if api_ready && live_pid kube-apiserver >/dev/null; then
    if ! $with_node || node_up; then
      k8s_say "k8s: already running (https://$HOST:$API_PORT)"
      return 0
    fi
    node_stop
    trap 'node_stop' EXIT # a node that cannot come up leaves nothing behind; the logs stay
    node_start
    trap - EXIT
    return 0
  fi
  node_stop
  stop_processes
  local port
  for port in "$API_PORT" "$ETCD_PORT" "$ETCD_PEER_PORT"; do
    ! port_open "$port" || k8s_die "port $port on $HOST is taken by another process (set K8S_API_PORT / K8S_ETCD_PORT)"
  done
  rm -rf "$STATE_DIR/etcd" "$STATE_DIR/logs"
  mkdir -p "$STATE_DIR/logs"
  make_pki

  local started=$SECONDS
  # nohup: the servers outlive this script (and the terminal that ran it) until `stop`; 9>&-: they must not
  # inherit (and so hold forever) the lock.
  nohup etcd --name distillery --data-dir "$STATE_DIR/etcd" \
    --listen-client-urls "http://$HOST:$ETCD_PORT" --advertise-client-urls "http://$HOST:$ETCD_PORT" \
    --listen-peer-urls "http://$HOST:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://$HOST:$ETCD_PEER_PORT" \
    --initial-cluster "distillery=http://$HOST:$ETCD_PEER_PORT" \
    >"$STATE_DIR/logs/etcd.log" 2>&1 </dev/null 9>&- &
  echo $! >"$STATE_DIR/etcd.pid"

  # --endpoint-reconciler-type=none: 1.37 refuses a loopback advertise address for the `kubernetes` Service's
  # endpoints, and nothing in the cluster needs them (stage pods never call the API). The kubelet flags serve the
  # node (level 2): its name `localhost` is its address; the admin certificate authenticates logs/exec to it.
  nohup "$K8S_BIN_DIR/kube-apiserver" \
    --bind-address="$HOST" --secure-port="$API_PORT" --advertise-address="$HOST" \
    --endpoint-reconciler-type=none \
    --kubelet-preferred-address-types=Hostname \
    --kubelet-client-certificate="$PKI/admin.crt" --kubelet-client-key="$PKI/admin.key" \
    --etcd-servers="http://$HOST:$ETCD_PORT" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 \
    --authorization-mode=Node,RBAC --anonymous-auth=false \
    --profiling=false \
    --cert-dir="$STATE_DIR/apiserver-certs" \
    >"$STATE_DIR/logs/kube-apiserver.log" 2>&1 </dev/null 9>&- &
  echo $! >"$STATE_DIR/kube-apiserver.pid"

  until api_ready; do
    if ! live_pid etcd >/dev/null || ! live_pid kube-apiserver >/dev/null; then
      tail -n 20 "$STATE_DIR/logs/etcd.log" "$STATE_DIR/logs/kube-apiserver.log" >&2 || true
      stop_processes
      k8s_die "etcd or kube-apiserver exited during start (logs in $STATE_DIR/logs)"
    fi
    if ((SECONDS - started > TIMEOUT)); then
      tail -n 20 "$STATE_DIR/logs/kube-apiserver.log" >&2 || true
      stop_processes
      k8s_die "kube-apiserver not ready after ${TIMEOUT}s (logs in $STATE_DIR/logs)"
    fi
    sleep 0.5
  done
  k8s_say "k8s: kube-apiserver $K8S_VERSION ready on https://$HOST:$API_PORT in $((SECONDS - started))s (KUBECONFIG=$KUBECONFIG_FILE)"
  if $with_node; then
    # A node that cannot come up leaves nothing running: the caller gets the error, the logs stay.
    trap 'node_stop; stop_processes' EXIT
    node_start
    trap - EXIT
  fi
}

stop_one() { # <name>: SIGTERM, wait up to 20 s, then SIGKILL
  local pid i
  pid="$(live_pid "$1")" || { rm -f "$STATE_DIR/$1.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 40); do
    [ -d "/proc/$pid" ] || break
    sleep 0.5
  done
  if [ -d "/proc/$pid" ]; then
    k8s_say "k8s: $1 (pid $pid) ignored SIGTERM for 20 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    while [ -d "/proc/$pid" ]; do sleep 0.2; done
  fi
  rm -f "$STATE_DIR/$1.pid"
}

stop_processes() {
  stop_one kube-apiserver
  stop_one etcd
}

stop() {
  take_lock
  node_stop
  stop_processes
  rm -rf "$STATE_DIR/etcd" "$PKI" "$KUBECONFIG_FILE" "$STATE_DIR/apiserver-certs"
  local port
  for port in "$API_PORT" "$ETCD_PORT" "$ETCD_PEER_PORT"; do
    ! port_open "$port" || k8s_die "port $port still answers after stop (another process holds it)"
  done
  k8s_say "k8s: stopped"
}

status() {
  if api_ready; then
    printf 'kube-apiserver %s: ready on https://%s:%s (etcd http://%s:%s)\n' "$K8S_VERSION" "$HOST" "$API_PORT" "$HOST" "$ETCD_PORT"
    if node_up; then printf 'node %s: running (containerd %s)\n' "$NODE_NAME" "$CONTAINERD_SOCK"; else printf 'node: none\n'; fi
    return 0
  fi
  printf 'kube-apiserver: not running (or not ready) on https://%s:%s\n' "$HOST" "$API_PORT"
  return 1
}

print_env() {
  printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_FILE"
  print_tool_env
}

# What the deployment tests need besides a cluster: the matching kubectl and the CRDs to install.
print_tool_env() {
  printf 'export DISTILLERY_KUBECTL=%q\n' "$K8S_BIN_DIR/kubectl"
  printf 'export DISTILLERY_KEDA_CRDS=%q\n' "$KEDA_CRD_DIR"
  printf 'export DISTILLERY_PROMETHEUS_CRDS=%q\n' "$PROMETHEUS_CRD_DIR"
}

load_images() {
  [ "$#" -gt 0 ] || k8s_die "usage: cluster.sh load IMAGE…"
  node_up || k8s_die "no node runs (cluster.sh start --node)"
  node_load "$@"
}

# shellcheck source=node.sh
. "$SCRIPT_DIR/node.sh"

case "${1:-}" in
  start)
    [ "$#" -le 2 ] && { [ "$#" -eq 1 ] || [ "$2" = --node ]; } || k8s_die "usage: cluster.sh start [--node]"
    start "${2:-}"
    ;;
  load) shift; load_images "$@" ;;
  stop) stop ;;
  status) status ;;
  env) print_env ;;
  tool-env) print_tool_env ;;
  *) k8s_die "usage: cluster.sh start [--node]|stop|status|env|load IMAGE…" ;;
esac
