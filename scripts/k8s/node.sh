# The local node of scripts/k8s/cluster.sh (sourced by it, not run): containerd, kubelet, kube-proxy, the
# controller-manager and scheduler, a bridge CNI network and CoreDNS, so pods from locally built images really run.
# Every workaround below is one this kind of machine needs (shared/notes/local-kubernetes.md has the why of each).
# Uses from cluster.sh: HOST, STATE_DIR, PKI, KUBECONFIG_FILE, live_pid, stop_one, api_ready.

NODE_DIR="$STATE_DIR/node"
NODE_NAME=localhost
CONTAINERD_DIR="$NODE_DIR/containerd"
CONTAINERD_SOCK="$CONTAINERD_DIR/containerd.sock"
KUBELET_DIR="$NODE_DIR/kubelet"
CNI_CONF_DIR="$NODE_DIR/cni/net.d"
POD_CIDR="${K8S_POD_CIDR:-10.244.0.0/24}"
POD_GATEWAY="${POD_CIDR%.*}.1" # the bridge's address: the pods' default route and their DNS server
BRIDGE="${K8S_BRIDGE:-distillery0}"
KUBELET_PORT="${K8S_KUBELET_PORT:-10250}"
KUBE_PROXY_HEALTH_PORT="${K8S_KUBE_PROXY_HEALTH_PORT:-10256}"
PAUSE_IMAGE=registry.k8s.io/pause:3.10.1
# Images copied from Docker into the node's containerd at start (more later with `cluster.sh load IMAGE…`).
NODE_IMAGES="${DISTILLERY_K8S_IMAGES:-distillery:$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$SCRIPT_DIR/../../package.json") distillery/kafka:3.9.1 distillery/versitygw:1.8.0}"
# Stopped in this order (the reverse of start); the pod-holding ones last.
NODE_PROCESSES=(kube-proxy kubelet coredns kube-scheduler kube-controller-manager containerd)

ctr_node() { ctr -a "$CONTAINERD_SOCK" -n k8s.io "$@"; }
containerd_answers() { ctr_node version >/dev/null 2>&1; }
kubectl_admin() { "$K8S_BIN_DIR/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

node_check_prerequisites() {
  local missing=() cmd
  for cmd in kube-controller-manager kube-scheduler kubelet kube-proxy; do
    [ -x "$K8S_BIN_DIR/$cmd" ] || missing+=("$cmd")
  done
  [ -x "$COREDNS_BIN" ] || missing+=(coredns)
  [ -x "$PAUSE_BIN" ] || missing+=(pause)
  for cmd in containerd ctr runc iptables ip; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/firewall ] && [ -x /usr/lib/cni/host-local ] || missing+=(containernetworking-plugins)
  [ "${#missing[@]}" -eq 0 ] || k8s_die "the node needs ${missing[*]}: run scripts/k8s/install.sh --node"
  [ "$(id -u)" -eq 0 ] || k8s_die "the node must run as root (containers, network namespaces, iptables)"
  command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1 ||
    k8s_die "docker does not answer: the node's images come from Docker (scripts/docker/install.sh)"
  local port
  for port in "$KUBELET_PORT" "$KUBE_PROXY_HEALTH_PORT" 10248 10249; do
    ! port_open "$port" || k8s_die "port $port on $HOST is taken (the kubelet and kube-proxy need it)"
  done
  ! ip link show "$BRIDGE" >/dev/null 2>&1 || k8s_die "network interface $BRIDGE exists already: another node's, or left by a crashed one (ip link delete $BRIDGE)"
}

# ------------------------------------------------------------------------------------------ configuration

# The kubelet's client certificate (the Node authorizer knows it as node `localhost`) and its kubeconfig; the other
# components are local tools of this dev cluster and use the admin kubeconfig.
node_pki() {
  (
    cd "$PKI"
    printf 'extendedKeyUsage = clientAuth\n' >client.ext
    openssl req -newkey rsa:2048 -nodes -keyout kubelet.key -out kubelet.csr -subj "/O=system:nodes/CN=system:node:$NODE_NAME" 2>/dev/null
    openssl x509 -req -in kubelet.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile client.ext -out kubelet.crt 2>/dev/null
    rm -f kubelet.csr client.ext
  )
  local kc="$NODE_DIR/kubelet.kubeconfig"
  "$K8S_BIN_DIR/kubectl" config set-cluster local --server="https://$HOST:$API_PORT" --certificate-authority="$PKI/ca.crt" --embed-certs --kubeconfig="$kc" >/dev/null
  "$K8S_BIN_DIR/kubectl" config set-credentials kubelet --client-certificate="$PKI/kubelet.crt" --client-key="$PKI/kubelet.key" --embed-certs --kubeconfig="$kc" >/dev/null
  "$K8S_BIN_DIR/kubectl" config set-context local --cluster=local --user=kubelet --kubeconfig="$kc" >/dev/null
  "$K8S_BIN_DIR/kubectl" config use-context local --kubeconfig="$kc" >/dev/null
  chmod 600 "$kc"
}

# A containerd of the node's own (Docker's stays untouched): own root, state, socket and plugin dirs.
# restrict_oom_score_adj: the VM lacks CAP_SYS_RESOURCE, and runc fails every sandbox that lowers its OOM score.
node_containerd_config() {
  mkdir -p "$CONTAINERD_DIR"
  cat >"$CONTAINERD_DIR/config.toml" <<EOF
version = 2
root = "$CONTAINERD_DIR/root"
state = "$CONTAINERD_DIR/state"

[grpc]
  address = "$CONTAINERD_SOCK"

[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$CONTAINERD_DIR/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  stream_server_address = "$HOST"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CNI_CONF_DIR"
EOF
}

# One bridge for every pod, no masquerading (nothing leaves the machine); the firewall plugin lets pod traffic
# through the FORWARD chain that Docker's rules otherwise drop.
node_cni_config() {
  mkdir -p "$CNI_CONF_DIR"
  cat >"$CNI_CONF_DIR/10-distillery.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "distillery",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$NODE_DIR/cni/ipam"
      }
    },
    { "type": "firewall" }
  ]
}
EOF
  # Made now rather than by the first pod's CNI call: CoreDNS listens on the gateway address before any pod exists.
  ip link add "$BRIDGE" type bridge
  ip addr add "$POD_GATEWAY/${POD_CIDR#*/}" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

node_kubelet_config() {
  mkdir -p "$KUBELET_DIR"
  # No search domains or servers of the host's: pods resolve cluster names only (there is no network beyond).
  : >"$NODE_DIR/resolv.conf"
  cat >"$NODE_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $HOST
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: $HOST
healthzPort: 10248
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $PKI/ca.crt }
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
# cgroup v1 and no systemd in this VM; 1.35+ refuses cgroup v1 unless told.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDNS: [$POD_GATEWAY]
clusterDomain: cluster.local
resolvConf: $NODE_DIR/resolv.conf
podCIDR: $POD_CIDR
# A dev node on a shared disk: evict only when truly out of space, never collect the imported images (they cannot
# be pulled back).
evictionHard: { memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2% }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
EOF
}

# ------------------------------------------------------------------------------------------------ images

# The sandbox image: pause.go built static (install.sh --node) in a FROM scratch image, rebuilt when it changes.
node_pause_image() {
  local digest ctx
  digest="$(sha256sum <"$PAUSE_BIN" | cut -c1-16)"
  if [ "$(docker image inspect -f '{{ index .Config.Labels "io.distillery.inputs" }}' "$PAUSE_IMAGE" 2>/dev/null)" != "$digest" ]; then
    ctx="$(mktemp -d "$NODE_DIR/pause-ctx.XXXXXX")"
    cp "$PAUSE_BIN" "$ctx/pause"
    cp "$SCRIPT_DIR/node/pause/Dockerfile" "$ctx/Dockerfile"
    docker build -q --label "io.distillery.inputs=$digest" -t "$PAUSE_IMAGE" "$ctx" >"$STATE_DIR/logs/pause-image.log" 2>&1 ||
      k8s_die "could not build the pause image $PAUSE_IMAGE (log: $STATE_DIR/logs/pause-image.log)"
    rm -rf "$ctx"
  fi
}

# Copies Docker images into the node's containerd (pods use them as is: imagePullPolicy IfNotPresent finds them).
node_load() {
  local image
  for image in "$@"; do
    docker image inspect "$image" >/dev/null 2>&1 || k8s_die "image $image is not in Docker (scripts/docker/build-images.sh builds the project's)"
    docker save "$image" | ctr_node images import - >/dev/null ||
      k8s_die "importing $image into the node's containerd failed"
    k8s_say "k8s: image $image loaded into the node"
  done
}

# ------------------------------------------------------------------------------------------------- start

node_up() { [ -f "$NODE_DIR/.up" ] && live_pid kubelet >/dev/null; }

node_ready() {
  [ "$(kubectl_admin get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

node_wait() { # <what> <seconds> <command…>: until the command succeeds or a node process exits
  local what=$1 limit=$2 started=$SECONDS name
  shift 2
  until "$@"; do
    for name in "${NODE_PROCESSES[@]}"; do
      if [ -f "$STATE_DIR/$name.pid" ] && ! live_pid "$name" >/dev/null; then
        tail -n 30 "$STATE_DIR/logs/$name.log" >&2 || true
        k8s_die "$name exited while waiting for $what (logs in $STATE_DIR/logs; cluster.sh stop cleans up)"
      fi
    done
    if ((SECONDS - started > limit)); then
      k8s_die "no $what after ${limit}s (logs in $STATE_DIR/logs; cluster.sh stop cleans up)"
    fi
    sleep 0.5
  done
}

node_spawn() { # <name> <command…>: in the background, logged, pid recorded; outlives this script until stop
  local name=$1
  shift
  nohup "$@" >"$STATE_DIR/logs/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$STATE_DIR/$name.pid"
}

node_start() {
  local started=$SECONDS
  node_check_prerequisites
  rm -rf "$NODE_DIR" && mkdir -p "$NODE_DIR"
  node_pki

  node_containerd_config
  node_spawn containerd containerd --config "$CONTAINERD_DIR/config.toml"
  node_wait "containerd socket" 30 containerd_answers
  node_pause_image
  node_load "$PAUSE_IMAGE"
  local image
  for image in $NODE_IMAGES; do
    if docker image inspect "$image" >/dev/null 2>&1; then node_load "$image"; else k8s_say "k8s: warning: $image not in Docker, not loaded"; fi
  done

  node_cni_config
  # Leader election is for several replicas; this cluster has one of each.
  node_spawn kube-controller-manager "$K8S_BIN_DIR/kube-controller-manager" --kubeconfig="$KUBECONFIG_FILE" \
    --bind-address="$HOST" --secure-port=0 --leader-elect=false \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --use-service-account-credentials=false --cert-dir="$STATE_DIR/node/controller-manager-certs"
  node_spawn kube-scheduler "$K8S_BIN_DIR/kube-scheduler" --kubeconfig="$KUBECONFIG_FILE" \
    --bind-address="$HOST" --secure-port=0 --leader-elect=false --cert-dir="$STATE_DIR/node/scheduler-certs"

  # Cluster DNS on the bridge's address (the only one the pods and the host share); answers for cluster.local only.
  cat >"$NODE_DIR/Corefile" <<EOF
cluster.local:53 {
  bind $POD_GATEWAY
  errors
  cache 5
  kubernetes cluster.local {
    kubeconfig $KUBECONFIG_FILE local
    pods disabled
    ttl 5
  }
}
EOF
  node_spawn coredns "$COREDNS_BIN" -conf "$NODE_DIR/Corefile"

  node_kubelet_config
  node_spawn kubelet "$K8S_BIN_DIR/kubelet" --config="$NODE_DIR/kubelet.yaml" \
    --kubeconfig="$NODE_DIR/kubelet.kubeconfig" --hostname-override="$NODE_NAME" \
    --root-dir="$KUBELET_DIR" --cert-dir="$KUBELET_DIR/pki"
  node_wait "Ready node $NODE_NAME" "$TIMEOUT" node_ready

  # iptables mode; conntrack-max 0 leaves the VM's conntrack table size alone (setting it needs rights it lacks);
  # NodePorts are not opened on 127.0.0.1 (that would need route_localnet on the host).
  node_spawn kube-proxy "$K8S_BIN_DIR/kube-proxy" --kubeconfig="$KUBECONFIG_FILE" --hostname-override="$NODE_NAME" \
    --proxy-mode=iptables --cluster-cidr="$POD_CIDR" --conntrack-max-per-core=0 --iptables-localhost-nodeports=false \
    --bind-address="$HOST" --healthz-bind-address="$HOST:$KUBE_PROXY_HEALTH_PORT" --metrics-bind-address="$HOST:10249"
  node_wait "kube-proxy sync" 60 curl -sf --max-time 2 "http://$HOST:$KUBE_PROXY_HEALTH_PORT/healthz" -o /dev/null
  touch "$NODE_DIR/.up"
  k8s_say "k8s: node $NODE_NAME ready in $((SECONDS - started))s (pods on $POD_CIDR, DNS $POD_GATEWAY, containerd $CONTAINERD_SOCK)"
}

# -------------------------------------------------------------------------------------------------- stop

# Deletes every pod while the kubelet still runs, so each one's network is torn down through CNI; the
# controller-manager stops first so nothing replaces them.
node_delete_pods() {
  live_pid kubelet >/dev/null && api_ready || return 0
  stop_one kube-controller-manager
  kubectl_admin delete pods --all --all-namespaces --wait=true --timeout=90s >/dev/null 2>&1 ||
    kubectl_admin delete pods --all --all-namespaces --grace-period=0 --force --wait=true --timeout=30s >/dev/null 2>&1 || true
}

# Whatever the kubelet left behind: containers killed through containerd, then its shims.
node_kill_containers() {
  live_pid containerd >/dev/null || return 0
  local id
  for id in $(ctr_node tasks ls -q 2>/dev/null); do
    ctr_node tasks kill -s SIGKILL -a "$id" >/dev/null 2>&1 || true
    ctr_node tasks delete -f "$id" >/dev/null 2>&1 || true
  done
}

# Removes kube-proxy's and the CNI firewall plugin's chains (KUBE-*, CNI-*) and the jumps to them; Docker's
# and anyone else's rules stay.
node_iptables_cleanup() {
  local tool table rule chain
  for tool in iptables ip6tables; do
    command -v "$tool" >/dev/null 2>&1 || continue
    for table in filter nat mangle; do
      "$tool" -t "$table" -S >/dev/null 2>&1 || continue
      while read -r rule; do
        eval "$tool -t $table -D ${rule#-A }" 2>/dev/null || true
      done < <("$tool" -t "$table" -S | grep -E -- '^-A [^ ]+ .*-j (KUBE-|CNI-)' | grep -vE -- '^-A (KUBE-|CNI-)')
      for chain in $("$tool" -t "$table" -S | sed -n 's/^-N \(\(KUBE\|CNI\)-[^ ]*\)$/\1/p'); do
        "$tool" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$tool" -t "$table" -S | sed -n 's/^-N \(\(KUBE\|CNI\)-[^ ]*\)$/\1/p'); do
        "$tool" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

node_stop() {
  [ -d "$NODE_DIR" ] || return 0
  node_delete_pods
  node_kill_containers
  local name
  for name in "${NODE_PROCESSES[@]}"; do stop_one "$name"; done
  # Shims whose containerd is gone keep their containers; they name our socket on their command line.
  local pid
  for pid in $(pgrep -f "containerd-shim.*-address $CONTAINERD_SOCK" || true); do kill -KILL "$pid" 2>/dev/null || true; done
  node_iptables_cleanup
  # Network namespaces the node's containerd made (cni-<uuid>) and still held; then the bridge.
  local ns
  for ns in $(grep -o "/run/netns/cni-[^ ]*" /proc/mounts 2>/dev/null | sort -u); do
    if grep -rqs "$(basename "$ns")" "$CONTAINERD_DIR" "$NODE_DIR/cni" 2>/dev/null; then umount "$ns" 2>/dev/null; rm -f "$ns"; fi
  done
  ip link delete "$BRIDGE" 2>/dev/null || true
  # Mounts under the node's dirs (pod volumes, container root filesystems, shm), deepest first.
  local mount
  while read -r mount; do umount -l "$mount" 2>/dev/null || true; done < <(awk -v d="$NODE_DIR" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
  # The pod cgroups the kubelet made (empty now), leaves first.
  local root
  for root in /sys/fs/cgroup/*/kubepods; do
    [ -d "$root" ] && find "$root" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  rm -rf "$NODE_DIR"
}
