#!/usr/bin/env bash
# Installs the local Kubernetes control plane for tests: kube-apiserver + kubectl built from the Go module proxy,
# etcd from Debian, KEDA's CRDs and prometheus-operator's ServiceMonitor CRD from their Go modules. Idempotent: a
# warm run checks and returns.
#
# Usage: scripts/k8s/install.sh [--node]
#   --node   also what a real node needs (level 2): kube-controller-manager, kube-scheduler, kubelet, kube-proxy, a
#            minimal CoreDNS and the pause stand-in built from source; containerd, runc and the CNI plugins from Debian
# Prints nothing on stdout; progress on stderr. Caches (Go build + module cache, ~5 GB cold) live in $K8S_HOME.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
. "$SCRIPT_DIR/common.sh"

WITH_NODE=false
for arg in "$@"; do
  case "$arg" in
    --node) WITH_NODE=true ;;
    -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
    *) k8s_die "unknown argument '$arg' (usage: install.sh [--node])" ;;
  esac
done

command -v go >/dev/null 2>&1 || k8s_die "go not found on PATH: the Kubernetes binaries are built from the Go module proxy"

# Kubernetes' own Go caches, apart from the user's: a cold build fills ~3.8 GB of build cache.
export GOCACHE="$K8S_HOME/gocache"
export GOMODCACHE="$K8S_HOME/gomod"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
mkdir -p "$K8S_HOME" "$K8S_BIN_DIR"

# One installer at a time per cache dir (tests and CI may race on a fresh machine).
exec 8>"$K8S_HOME/.install.lock"
flock -w 3600 8 || k8s_die "timed out waiting for another install.sh ($K8S_HOME/.install.lock)"

# kubectl is built too, so the client always matches the server (the supported skew is one minor version).
COMMANDS=(kube-apiserver kubectl)
if $WITH_NODE; then
  COMMANDS+=(kube-controller-manager kube-scheduler kubelet kube-proxy)
fi

built() { # true when every requested binary exists and reports the pinned version
  local cmd
  for cmd in "${COMMANDS[@]}"; do
    [ -x "$K8S_BIN_DIR/$cmd" ] || return 1
  done
  "$K8S_BIN_DIR/kube-apiserver" --version 2>/dev/null | grep -qx "Kubernetes $K8S_VERSION"
}

# k8s.io/kubernetes replaces every k8s.io/* staging module with ./staging/..., which `go install` refuses. A
# scratch module that requires it, copies its requirements and points each staging module at the published
# k8s.io/NAME v0.MINOR.PATCH builds the same commands.
build_kubernetes() {
  local work="$K8S_HOME/$K8S_VERSION/module" staging_version="v0${K8S_VERSION#v1}" gomod cmd
  mkdir -p "$work"
  gomod="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | jq -r .GoMod)"
  [ -f "$gomod" ] || k8s_die "go mod download k8s.io/kubernetes@$K8S_VERSION gave no go.mod"
  {
    printf 'module distillery.local/k8s-build\n\n'
    grep -m1 '^go ' "$gomod"
    printf '\nrequire k8s.io/kubernetes %s\n\n' "$K8S_VERSION"
    go mod edit -json "$gomod" | jq -r '.Require[] | "require \(.Path) \(.Version)"'
    go mod edit -json "$gomod" | jq -r --arg v "$staging_version" \
      '.Replace[] | select(.New.Path | startswith("./staging/")) | "replace \(.Old.Path) => \(.Old.Path) \($v)"'
  } >"$work/go.mod"
  {
    printf '//go:build tools\n\n// Package tools names the Kubernetes commands this module builds.\npackage tools\n\nimport (\n'
    for cmd in "${COMMANDS[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$cmd"; done
    printf ')\n'
  } >"$work/tools.go"
  k8s_say "k8s: resolving k8s.io/kubernetes $K8S_VERSION modules (go mod tidy)"
  (cd "$work" && go mod tidy)
  k8s_say "k8s: building ${COMMANDS[*]} $K8S_VERSION (cold: ~7 min on 2 idle cores)"
  local pkgs=()
  for cmd in "${COMMANDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$cmd"); done
  (cd "$work" && CGO_ENABLED=0 go build -trimpath -o "$K8S_BIN_DIR/" \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION" \
    "${pkgs[@]}")
  built || k8s_die "built $K8S_BIN_DIR but kube-apiserver does not report $K8S_VERSION"
}

# The node's cluster DNS: CoreDNS with four plugins (scripts/k8s/node/coredns/main.go) in a scratch module that
# requires the pinned release; its go.mod has no replace directives, so plain requirements resolve it.
build_coredns() {
  local work="$K8S_HOME/coredns-$COREDNS_VERSION/module"
  [ -x "$COREDNS_BIN" ] && [ "$(cat "$COREDNS_BIN.source" 2>/dev/null)" = "$(sha256sum <"$SCRIPT_DIR/node/coredns/main.go")" ] && return 0
  k8s_say "k8s: building CoreDNS $COREDNS_VERSION (kubernetes, bind, cache, errors plugins)"
  rm -rf "$work" && mkdir -p "$work"
  cp "$SCRIPT_DIR/node/coredns/main.go" "$work/main.go"
  printf 'module distillery.local/coredns\n\ngo 1.25\n\nrequire github.com/coredns/coredns %s\n' "$COREDNS_VERSION" >"$work/go.mod"
  (cd "$work" && go mod tidy && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$COREDNS_BIN" .)
  sha256sum <"$SCRIPT_DIR/node/coredns/main.go" >"$COREDNS_BIN.source"
}

# The pod sandbox process (scripts/k8s/node/pause/main.go): static, standard library only.
build_pause() {
  [ -x "$PAUSE_BIN" ] && [ "$(cat "$PAUSE_BIN.source" 2>/dev/null)" = "$(sha256sum <"$SCRIPT_DIR/node/pause/main.go")" ] && return 0
  mkdir -p "$(dirname "$PAUSE_BIN")"
  (cd "$SCRIPT_DIR/node/pause" && CGO_ENABLED=0 GO111MODULE=off go build -trimpath -ldflags "-s -w" -o "$PAUSE_BIN" main.go)
  sha256sum <"$SCRIPT_DIR/node/pause/main.go" >"$PAUSE_BIN.source"
}

# etcd 3.4 from Debian is enough for the API server; jq reads `go mod` JSON. apt is shared with other users of the
# machine: wait for its lock.
install_debian_packages() {
  local packages=()
  command -v etcd >/dev/null 2>&1 || packages+=(etcd-server)
  command -v jq >/dev/null 2>&1 || packages+=(jq)
  if $WITH_NODE; then
    command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1 || packages+=(containerd)
    command -v runc >/dev/null 2>&1 || packages+=(runc)
    [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/firewall ] || packages+=(containernetworking-plugins)
    command -v iptables >/dev/null 2>&1 || packages+=(iptables)
    command -v conntrack >/dev/null 2>&1 || packages+=(conntrack)
  fi
  [ "${#packages[@]}" -gt 0 ] || return 0
  command -v apt-get >/dev/null 2>&1 || k8s_die "${packages[*]} missing and no apt-get to install them"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
  local attempt
  for attempt in 1 2 3 4 5 6; do
    if "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq &&
      DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${packages[@]}" >&2; then
      return 0
    fi
    k8s_say "k8s: apt-get failed (attempt $attempt; another apt may hold its lock), retrying in 20 s"
    sleep 20
  done
  k8s_die "could not install ${packages[*]} with apt-get"
}

# KEDA and prometheus-operator publish their CRDs inside their Go modules; the ones the manifests use are copied
# out of the read-only module cache to a stable path.
install_module_crds() { # <module@version> <dir in the module> <destination> <file glob>...
  local module=$1 from=$2 dest=$3 dir
  shift 3
  [ -f "$dest/.complete" ] && return 0
  dir="$(cd "$K8S_HOME" && GOFLAGS=-mod=mod go mod download -json "$module" | jq -r .Dir)"
  [ -d "$dir/$from" ] || k8s_die "$module has no $from"
  rm -rf "$dest" && mkdir -p "$dest"
  local glob
  for glob in "$@"; do cp "$dir/$from"/$glob "$dest/"; done
  chmod u+w "$dest"/*.yaml
  touch "$dest/.complete"
}

install_debian_packages
install_module_crds "github.com/kedacore/keda/v2@$KEDA_VERSION" config/crd/bases "$KEDA_CRD_DIR" 'keda.sh_*.yaml'
# The newest root-module version the Go proxy serves here; ServiceMonitor's schema is stable across releases.
install_module_crds "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" \
  example/prometheus-operator-crd "$PROMETHEUS_CRD_DIR" monitoring.coreos.com_servicemonitors.yaml
if built; then
  k8s_say "k8s: ${COMMANDS[*]} $K8S_VERSION already built in $K8S_BIN_DIR"
else
  build_kubernetes
fi
if $WITH_NODE; then
  build_coredns
  build_pause
fi
k8s_say "k8s: installed (etcd $(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p'), Kubernetes $K8S_VERSION, KEDA CRDs $KEDA_VERSION, ServiceMonitor CRD $PROMETHEUS_OPERATOR_VERSION)"
