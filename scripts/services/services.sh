#!/usr/bin/env bash
# Installs, starts, stops and describes the local Apache Kafka (KRaft) + S3 server pair for distributed mode, no Docker.
#
# Usage: scripts/services/services.sh install|start|stop [--purge]|status|env
# See docs/services.md for the environment variables; every download and all state live outside the repo.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"

KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
VERSITYGW_VERSION="${VERSITYGW_VERSION:-v1.8.0}"
MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
# Pinned so a fresh machine resolves the same plugin; Maven 3.8's default binding is an old 2.x.
DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

SERVICES_HOME="${DISTILLERY_SERVICES_HOME:-$HOME/.cache/distillery/services}"
# DISTILLERY_SERVICES_SECURE=1: a second, secured pair beside the default one (own state dir and ports): Kafka
# speaks SASL/SCRAM-SHA-512 over TLS only, the S3 server HTTPS only, with certificates made here by openssl.
SECURE="${DISTILLERY_SERVICES_SECURE:-0}"
case "$SECURE" in 0 | 1) ;; *) printf 'services: error: DISTILLERY_SERVICES_SECURE must be 0 or 1\n' >&2; exit 1 ;; esac
if [ "$SECURE" = 1 ]; then
  STATE_DIR="${DISTILLERY_SERVICES_STATE_DIR:-$SERVICES_HOME/state-secure}"
  KAFKA_PORT="${KAFKA_PORT:-9192}"
  KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9193}"
  S3_PORT="${S3_PORT:-7443}"
else
  STATE_DIR="${DISTILLERY_SERVICES_STATE_DIR:-$SERVICES_HOME/state}"
fi
TLS_DIR="$STATE_DIR/tls"
LOG_DIR="${DISTILLERY_SERVICES_LOG_DIR:-$STATE_DIR/logs}"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$STATE_DIR/kafka-data}"
S3_DATA_DIR="${S3_DATA_DIR:-$STATE_DIR/s3-data}"

HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
S3_PORT="${S3_PORT:-7070}"
S3_REGION="${S3_REGION:-us-east-1}"
S3_SERVER="${DISTILLERY_S3_SERVER:-versitygw}"
START_TIMEOUT="${DISTILLERY_SERVICES_TIMEOUT:-120}"
STOP_TIMEOUT="${DISTILLERY_SERVICES_STOP_TIMEOUT:-30}"
# Two cores and other work on the machine: a dev broker needs far less than Kafka's 1 GiB default.
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
KAFKA_AUTO_CREATE_TOPICS="${KAFKA_AUTO_CREATE_TOPICS:-false}"

KAFKA_HOME="$SERVICES_HOME/kafka-$KAFKA_VERSION"
VERSITYGW_BIN="$SERVICES_HOME/versitygw-$VERSITYGW_VERSION/bin/versitygw"
MOTO_VENV="$SERVICES_HOME/moto-$MOTO_VERSION"
CREDENTIALS_FILE="$STATE_DIR/s3-credentials.env"

say() { printf '%s\n' "$*" >&2; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

# The secure pair's CA and server certificate (127.0.0.1 and localhost), made once with openssl; the CA is what
# clients trust (KAFKA_SSL_CA_FILE, S3_CA_FILE). Kafka reads the key and chain as a PEM keystore.
ensure_tls() {
  [ -s "$TLS_DIR/server-keystore.pem" ] && return 0
  need openssl "the secured services need certificates (Debian: apt-get install openssl)"
  mkdir -p "$TLS_DIR"
  (
    umask 077
    cd "$TLS_DIR"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj '/CN=distillery local CA' \
      -keyout ca.key -out ca.pem -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj '/CN=127.0.0.1' -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -extfile server.ext -out server.pem 2>/dev/null
    # Kafka's PEM keystore wants an unencrypted PKCS#8 key followed by the certificate chain.
    openssl pkcs8 -topk8 -nocrypt -in server.key -out server-pkcs8.key
    cat server-pkcs8.key server.pem ca.pem >server-keystore.pem.tmp
    mv server-keystore.pem.tmp server-keystore.pem
    chmod 644 ca.pem
  ) || die "openssl could not make the certificates in $TLS_DIR"
  say "tls: made a local CA and a server certificate for 127.0.0.1 in $TLS_DIR"
}

check_port_var() {
  local name=$1 value=$2
  if ! [[ "$value" =~ ^[0-9]{1,5}$ ]] || ((10#$value < 1 || 10#$value > 65535)); then
    die "$name must be a TCP port number, got '$value'"
  fi
}

validate_config() {
  check_port_var KAFKA_PORT "$KAFKA_PORT"
  check_port_var KAFKA_CONTROLLER_PORT "$KAFKA_CONTROLLER_PORT"
  check_port_var S3_PORT "$S3_PORT"
  [[ "$START_TIMEOUT" =~ ^[0-9]+$ ]] || die "DISTILLERY_SERVICES_TIMEOUT must be whole seconds, got '$START_TIMEOUT'"
  [[ "$STOP_TIMEOUT" =~ ^[0-9]+$ ]] || die "DISTILLERY_SERVICES_STOP_TIMEOUT must be whole seconds, got '$STOP_TIMEOUT'"
  case "$S3_SERVER" in versitygw | moto) ;; *) die "DISTILLERY_S3_SERVER must be versitygw or moto, got '$S3_SERVER'" ;; esac
  [ "$SECURE" = 0 ] || [ "$S3_SERVER" = versitygw ] || die "the secured services need versitygw (moto serves no TLS here)"
  [ "$KAFKA_PORT" != "$KAFKA_CONTROLLER_PORT" ] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ"
}

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH: $2"; }

# Serialises install/start/stop between concurrent callers (engineers, test runners) sharing one state dir.
take_lock() {
  mkdir -p "$STATE_DIR"
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>"$STATE_DIR/.lock"
  flock -w 600 9 || die "timed out waiting for the lock $STATE_DIR/.lock held by another services.sh"
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

pid_file() { printf '%s/%s.pid' "$STATE_DIR" "$1"; }

# What a live process of each service has on its command line; guards against signalling a recycled pid.
cmd_marker() {
  case "$1" in
    kafka) printf 'kafka.Kafka' ;;
    s3) printf 'versitygw|moto_server' ;;
  esac
}

# Prints the pid of the service started by this script if it is still alive; fails otherwise.
running_pid() {
  local name=$1 file pid args
  file="$(pid_file "$name")"
  [ -f "$file" ] || return 1
  pid="$(cat "$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  args="$(ps -p "$pid" -o args= 2>/dev/null)" || return 1
  grep -Eq "$(cmd_marker "$name")" <<<"$args" || return 1
  printf '%s' "$pid"
}

show_log_tail() {
  local log
  for log in "$@"; do
    [ -s "$log" ] || continue
    say "---- last lines of $log ----"
    tail -n 25 "$log" | cut -c1-300 >&2
  done
}

# Runs a service detached from this shell's session and terminal, so it outlives the caller.
launch() {
  local name=$1 log=$2 pid
  shift 2
  mkdir -p "$(dirname "$log")"
  printf '==== %s starting %s ====\n' "$(date '+%Y-%m-%dT%H:%M:%S')" "$name" >>"$log"
  # 9>&- : the daemon must not inherit the lock fd, or it would hold the lock for its whole life.
  if command -v setsid >/dev/null 2>&1; then
    setsid nohup "$@" >>"$log" 2>&1 </dev/null 9>&- &
  else
    nohup "$@" >>"$log" 2>&1 </dev/null 9>&- &
  fi
  pid=$!
  printf '%s\n' "$pid" >"$(pid_file "$name")"
  LAUNCHED_PID=$pid
}

have_node_probe() { command -v node >/dev/null 2>&1 && [ -d "$REPO_DIR/node_modules/kafkajs" ] && [ -d "$REPO_DIR/node_modules/tsx" ]; }

# The probe reads the secure pair's CA and SASL login from the same variables clients use (see cmd_env).
node_probe() {
  if [ "$SECURE" = 1 ]; then
    (cd "$REPO_DIR" && env KAFKA_SSL=true KAFKA_SSL_CA_FILE="$TLS_DIR/ca.pem" KAFKA_SASL_MECHANISM=scram-sha-512 \
      KAFKA_SASL_USERNAME=distillery KAFKA_SASL_PASSWORD="$(credential KAFKA_SASL_PASSWORD)" S3_CA_FILE="$TLS_DIR/ca.pem" \
      node --import tsx "$SCRIPT_DIR/probe.ts" "$@")
  else
    (cd "$REPO_DIR" && node --import tsx "$SCRIPT_DIR/probe.ts" "$@")
  fi
}

s3_url() { if [ "$SECURE" = 1 ]; then printf 'https://%s:%s' "$HOST" "$S3_PORT"; else printf 'http://%s:%s' "$HOST" "$S3_PORT"; fi; }

kafka_ready() {
  port_open "$KAFKA_PORT" || return 1
  if have_node_probe; then
    node_probe kafka "$HOST:$KAFKA_PORT" >/dev/null 2>&1
  else
    # Without the repo's node_modules, fall back to the broker's own "started" line written after this launch.
    tail -n +"$((KAFKA_LOG_MARK + 1))" "$LOG_DIR/kafka/server.log" 2>/dev/null | grep -q 'Kafka Server started'
  fi
}

s3_ready() {
  port_open "$S3_PORT" || return 1
  if have_node_probe; then
    node_probe s3 "$(s3_url)" >/dev/null 2>&1
  else
    curl -s -o /dev/null -m 5 --cacert "$TLS_DIR/ca.pem" "$(s3_url)/"
  fi
}

# Polls a readiness check until it passes, the process dies, or the timeout expires.
wait_ready() {
  local name=$1 pid=$2 check=$3 started=$SECONDS
  shift 3
  while :; do
    # running_pid, not kill -0: a child that died during this very start is a zombie until we exit.
    if ! running_pid "$name" >/dev/null; then
      rm -f "$(pid_file "$name")"
      show_log_tail "$@"
      die "$name exited during startup (see the log lines above)"
    fi
    if "$check"; then
      READY_AFTER=$((SECONDS - started))
      return 0
    fi
    if ((SECONDS - started >= START_TIMEOUT)); then
      show_log_tail "$@"
      die "$name not ready after ${START_TIMEOUT}s (pid $pid left running; 'services.sh stop' ends it)"
    fi
    sleep 0.5
  done
}

# ---------------------------------------------------------------------------------------------- install

install_kafka() {
  if [ -f "$KAFKA_HOME/.installed" ]; then
    say "kafka: $KAFKA_VERSION already installed ($KAFKA_HOME)"
    return 0
  fi
  need java "Kafka needs a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)"
  need mvn "the Kafka jars are fetched from Maven Central with Maven (Debian: apt-get install maven)"
  local started=$SECONDS build="$SERVICES_HOME/kafka-build" log="$LOG_DIR/install-kafka.log" tmp
  say "kafka: fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its runtime jars from Maven Central..."
  mkdir -p "$build" "$LOG_DIR"
  # Maven runs on a copy of the pom so nothing (target/, reports) is ever written into the repo.
  cp "$SCRIPT_DIR/kafka/pom.xml" "$build/pom.xml"
  tmp="$(mktemp -d "$SERVICES_HOME/kafka-libs.XXXXXX")"
  if ! (cd "$build" && mvn -B -q --no-transfer-progress -Dmaven.repo.local="$SERVICES_HOME/m2" \
    -Dkafka.version="$KAFKA_VERSION" "$DEPENDENCY_PLUGIN:copy-dependencies" \
    -DincludeScope=runtime -DoutputDirectory="$tmp") >"$log" 2>&1; then
    rm -rf "$tmp"
    show_log_tail "$log"
    die "kafka: Maven could not fetch the jars (full log: $log)"
  fi
  [ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] || { rm -rf "$tmp"; die "kafka: kafka_2.13-$KAFKA_VERSION.jar missing after Maven ran"; }
  rm -rf "$KAFKA_HOME"
  mkdir -p "$KAFKA_HOME"
  mv "$tmp" "$KAFKA_HOME/libs"
  touch "$KAFKA_HOME/.installed"
  say "kafka: installed $KAFKA_VERSION ($(find "$KAFKA_HOME/libs" -name '*.jar' | wc -l | tr -d ' ') jars) in $((SECONDS - started))s"
}

install_versitygw() {
  if [ -x "$VERSITYGW_BIN" ]; then
    say "s3: versitygw $VERSITYGW_VERSION already installed ($VERSITYGW_BIN)"
    return 0
  fi
  need go "versitygw is built with 'go install' (Debian: apt-get install golang, or DISTILLERY_S3_SERVER=moto)"
  local started=$SECONDS log="$LOG_DIR/install-versitygw.log" tmp
  say "s3: building github.com/versity/versitygw@$VERSITYGW_VERSION with go install (a few minutes on a cold cache)..."
  mkdir -p "$LOG_DIR" "$(dirname "$VERSITYGW_BIN")"
  tmp="$(mktemp -d "$SERVICES_HOME/versitygw-bin.XXXXXX")"
  # Module and build caches live beside the binary so the whole install is one deletable folder;
  # -modcacherw keeps that folder deletable without root.
  if ! GOBIN="$tmp" GOMODCACHE="$SERVICES_HOME/go/mod" GOCACHE="$SERVICES_HOME/go/build" \
    GOFLAGS="${GOFLAGS:-} -modcacherw" CGO_ENABLED=0 \
    go install -ldflags "-X=main.Version=$VERSITYGW_VERSION" \
    "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" >"$log" 2>&1; then
    rm -rf "$tmp"
    show_log_tail "$log"
    die "s3: go install of versitygw failed (full log: $log); DISTILLERY_S3_SERVER=moto is the fallback"
  fi
  mv "$tmp/versitygw" "$VERSITYGW_BIN"
  rm -rf "$tmp"
  say "s3: installed versitygw $VERSITYGW_VERSION in $((SECONDS - started))s"
}

install_moto() {
  if [ -x "$MOTO_VENV/bin/moto_server" ]; then
    say "s3: moto $MOTO_VERSION already installed ($MOTO_VENV)"
    return 0
  fi
  need python3 "the moto fallback runs in a Python 3 venv"
  local started=$SECONDS log="$LOG_DIR/install-moto.log"
  say "s3: installing moto[server]==$MOTO_VERSION into a venv..."
  mkdir -p "$LOG_DIR"
  rm -rf "$MOTO_VENV"
  if ! { python3 -m venv "$MOTO_VENV" && "$MOTO_VENV/bin/pip" install -q "moto[server]==$MOTO_VERSION"; } >"$log" 2>&1; then
    rm -rf "$MOTO_VENV"
    show_log_tail "$log"
    die "s3: could not install moto (full log: $log)"
  fi
  say "s3: installed moto $MOTO_VERSION in $((SECONDS - started))s"
}

cmd_install() {
  mkdir -p "$SERVICES_HOME"
  install_kafka
  if [ "$S3_SERVER" = moto ]; then install_moto; else install_versitygw; fi
}

# ---------------------------------------------------------------------------------------------- start

ensure_credentials() {
  [ -s "$CREDENTIALS_FILE" ] && return 0
  mkdir -p "$STATE_DIR"
  local access secret
  # Fixed-length reads from /dev/urandom: no pipe that pipefail would see killed by SIGPIPE.
  access="AK$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n' | tr 'a-f' 'A-F')"
  secret="$(head -c 30 /dev/urandom | base64 | tr '+/' 'xy')"
  (
    umask 077
    printf 'S3_ACCESS_KEY_ID=%s\nS3_SECRET_ACCESS_KEY=%s\n' "$access" "$secret" >"$CREDENTIALS_FILE.tmp"
    # SCRAM users of the secure broker: 'admin' for the broker's own listener, 'distillery' for clients.
    printf 'KAFKA_ADMIN_PASSWORD=%s\nKAFKA_SASL_PASSWORD=%s\n' "$(head -c 24 /dev/urandom | base64 | tr '+/' 'xy')" \
      "$(head -c 24 /dev/urandom | base64 | tr '+/' 'xy')" >>"$CREDENTIALS_FILE.tmp"
  )
  mv "$CREDENTIALS_FILE.tmp" "$CREDENTIALS_FILE"
}

credential() { grep "^$1=" "$CREDENTIALS_FILE" | head -n 1 | cut -d= -f2-; }

write_kafka_config() {
  mkdir -p "$STATE_DIR/kafka"
  # The secure broker's config holds the admin password: readable by its owner only.
  (umask 077 && : >"$STATE_DIR/kafka/server.properties")
  cat >"$STATE_DIR/kafka/server.properties" <<EOF
# Generated by scripts/services/services.sh on every start; edits here are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DATA_DIR
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=$KAFKA_AUTO_CREATE_TOPICS
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=168
EOF
  [ "$SECURE" = 1 ] || return 0
  # Clients reach only the SASL_SSL listener; the controller listener stays on loopback for the node itself.
  sed -i -e "s|^listeners=.*|listeners=SASL_SSL://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT|" \
    -e "s|^advertised.listeners=.*|advertised.listeners=SASL_SSL://$HOST:$KAFKA_PORT|" \
    -e "s|^inter.broker.listener.name=.*|inter.broker.listener.name=SASL_SSL|" \
    -e "s|^listener.security.protocol.map=.*|listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT|" \
    "$STATE_DIR/kafka/server.properties"
  cat >>"$STATE_DIR/kafka/server.properties" <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(credential KAFKA_ADMIN_PASSWORD)";
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/server-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.pem
ssl.client.auth=none
ssl.endpoint.identification.algorithm=https
EOF
}

start_kafka() {
  local pid log="$LOG_DIR/kafka/kafka.out" server_log="$LOG_DIR/kafka/server.log" cluster_id
  local classpath="$KAFKA_HOME/libs/*"
  # shellcheck disable=SC2206 # the heap options are meant to split into words
  local jvm=($KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$SCRIPT_DIR/kafka/log4j.properties" "-Dkafka.logs.dir=$LOG_DIR/kafka")
  KAFKA_LOG_MARK=$(wc -l 2>/dev/null <"$server_log" || echo 0)
  if pid="$(running_pid kafka)"; then
    wait_ready kafka "$pid" kafka_ready "$server_log" "$log"
    say "kafka: already running (pid $pid) on $HOST:$KAFKA_PORT"
    return 0
  fi
  rm -f "$(pid_file kafka)"
  port_open "$KAFKA_PORT" && die "kafka: $HOST:$KAFKA_PORT is taken by a process this script did not start; stop it or set KAFKA_PORT"
  port_open "$KAFKA_CONTROLLER_PORT" && die "kafka: controller port $HOST:$KAFKA_CONTROLLER_PORT is taken; set KAFKA_CONTROLLER_PORT"
  mkdir -p "$KAFKA_DATA_DIR" "$LOG_DIR/kafka"
  local scram=()
  if [ "$SECURE" = 1 ]; then
    ensure_tls
    ensure_credentials
    scram=(--add-scram "SCRAM-SHA-512=[name=admin,password=$(credential KAFKA_ADMIN_PASSWORD)]"
      --add-scram "SCRAM-SHA-512=[name=distillery,password=$(credential KAFKA_SASL_PASSWORD)]")
  fi
  write_kafka_config
  if [ ! -f "$KAFKA_DATA_DIR/meta.properties" ]; then
    [ -s "$STATE_DIR/kafka/cluster.id" ] ||
      head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$STATE_DIR/kafka/cluster.id"
    cluster_id="$(cat "$STATE_DIR/kafka/cluster.id")"
    if ! java "${jvm[@]}" -cp "$classpath" kafka.tools.StorageTool format --ignore-formatted \
      -t "$cluster_id" -c "$STATE_DIR/kafka/server.properties" "${scram[@]}" >>"$log" 2>&1; then
      show_log_tail "$log"
      die "kafka: formatting the KRaft storage in $KAFKA_DATA_DIR failed"
    fi
    say "kafka: formatted KRaft storage (cluster id $cluster_id)"
  fi
  launch kafka "$log" java "${jvm[@]}" -cp "$classpath" kafka.Kafka "$STATE_DIR/kafka/server.properties"
  pid=$LAUNCHED_PID
  wait_ready kafka "$pid" kafka_ready "$server_log" "$log"
  say "kafka: ready on $HOST:$KAFKA_PORT (pid $pid, ${READY_AFTER}s)"
}

start_s3() {
  local pid log="$LOG_DIR/s3.log"
  if pid="$(running_pid s3)"; then
    wait_ready s3 "$pid" s3_ready "$log"
    say "s3: already running (pid $pid) on $(s3_url)"
    return 0
  fi
  rm -f "$(pid_file s3)"
  port_open "$S3_PORT" && die "s3: $HOST:$S3_PORT is taken by a process this script did not start; stop it or set S3_PORT"
  mkdir -p "$S3_DATA_DIR" "$LOG_DIR"
  ensure_credentials
  if [ "$S3_SERVER" = moto ]; then
    # moto keeps buckets in memory and accepts any credentials: a restart loses every object.
    launch s3 "$log" "$MOTO_VENV/bin/moto_server" -H "$HOST" -p "$S3_PORT"
  else
    local tls=()
    if [ "$SECURE" = 1 ]; then
      ensure_tls
      tls=(--cert "$TLS_DIR/server.pem" --key "$TLS_DIR/server.key")
    fi
    launch s3 "$log" env ROOT_ACCESS_KEY_ID="$(credential S3_ACCESS_KEY_ID)" \
      ROOT_SECRET_ACCESS_KEY="$(credential S3_SECRET_ACCESS_KEY)" \
      "$VERSITYGW_BIN" --port "$HOST:$S3_PORT" --region "$S3_REGION" --quiet "${tls[@]}" posix "$S3_DATA_DIR"
  fi
  pid=$LAUNCHED_PID
  wait_ready s3 "$pid" s3_ready "$log"
  say "s3: $S3_SERVER ready on $(s3_url) (pid $pid, ${READY_AFTER}s)"
}

cmd_start() {
  cmd_install
  start_kafka
  start_s3
}

# ---------------------------------------------------------------------------------------------- stop

stop_one() {
  local name=$1 port=$2 pid waited=0
  if pid="$(running_pid "$name")"; then
    kill -TERM "$pid" 2>/dev/null || true
    # Kafka's controlled shutdown flushes logs and closes the quorum; give it time before SIGKILL.
    while kill -0 "$pid" 2>/dev/null && ((waited < STOP_TIMEOUT * 5)); do
      sleep 0.2
      waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name: pid $pid ignored SIGTERM for ${STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    say "$name: stopped (pid $pid)"
  else
    say "$name: not running"
  fi
  rm -f "$(pid_file "$name")"
  if port_open "$port"; then
    say "$name: $HOST:$port still answers: a process this script did not start owns it"
    return 1
  fi
}

cmd_stop() {
  local purge=false status=0
  case "${1:-}" in
    --purge) purge=true ;;
    "") ;;
    *) die "stop takes only --purge, got '$1'" ;;
  esac
  stop_one kafka "$KAFKA_PORT" || status=1
  port_open "$KAFKA_CONTROLLER_PORT" && { say "kafka: controller port $KAFKA_CONTROLLER_PORT still answers"; status=1; }
  stop_one s3 "$S3_PORT" || status=1
  if $purge; then
    rm -rf "$KAFKA_DATA_DIR" "$S3_DATA_DIR" "$STATE_DIR/kafka/cluster.id"
    say "purged data dirs $KAFKA_DATA_DIR and $S3_DATA_DIR"
  fi
  return "$status"
}

# ---------------------------------------------------------------------------------------------- status / env

status_line() {
  local name=$1 port=$2 what=$3 pid
  if pid="$(running_pid "$name")"; then
    if port_open "$port"; then
      printf '%-6s running   pid %-7s %s\n' "$name" "$pid" "$what"
      return 0
    fi
    printf '%-6s starting  pid %-7s %s (port not answering yet)\n' "$name" "$pid" "$what"
  elif port_open "$port"; then
    printf '%-6s foreign   %-11s %s answers, but not a process started by this script\n' "$name" "" "$what"
  else
    printf '%-6s stopped   %-11s %s\n' "$name" "" "$what"
  fi
  return 1
}

cmd_status() {
  local status=0
  local kafka_what="$HOST:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT) Apache Kafka $KAFKA_VERSION KRaft"
  [ "$SECURE" = 1 ] && kafka_what="$kafka_what, SASL_SSL (SCRAM-SHA-512)"
  status_line kafka "$KAFKA_PORT" "$kafka_what" || status=1
  local s3_what
  s3_what="$(s3_url) versitygw $VERSITYGW_VERSION"
  [ "$S3_SERVER" = moto ] && s3_what="$(s3_url) moto $MOTO_VERSION"
  status_line s3 "$S3_PORT" "$s3_what" || status=1
  printf 'state  %s\nlogs   %s\n' "$STATE_DIR" "$LOG_DIR"
  return "$status"
}

cmd_env() {
  # Only a first call writes the credentials; later ones must not wait behind a long install holding the lock.
  if [ ! -s "$CREDENTIALS_FILE" ]; then
    take_lock
    ensure_credentials
  fi
  printf 'export KAFKA_BROKERS=%s:%s\n' "$HOST" "$KAFKA_PORT"
  printf 'export S3_ENDPOINT=%s\n' "$(s3_url)"
  if [ "$SECURE" = 1 ]; then
    printf 'export KAFKA_SSL=true\nexport KAFKA_SSL_CA_FILE=%s\nexport S3_CA_FILE=%s\n' "$TLS_DIR/ca.pem" "$TLS_DIR/ca.pem"
    printf 'export KAFKA_SASL_MECHANISM=scram-sha-512\nexport KAFKA_SASL_USERNAME=distillery\n'
    printf 'export KAFKA_SASL_PASSWORD=%s\n' "$(credential KAFKA_SASL_PASSWORD)"
  fi
  printf 'export AWS_ACCESS_KEY_ID=%s\n' "$(credential S3_ACCESS_KEY_ID)"
  printf 'export AWS_SECRET_ACCESS_KEY=%s\n' "$(credential S3_SECRET_ACCESS_KEY)"
  printf 'export AWS_REGION=%s\n' "$S3_REGION"
}

usage() {
  cat >&2 <<'EOF'
usage: scripts/services/services.sh <command>
  install        fetch Kafka jars (Maven Central) and build the S3 server (go install); cached, idempotent
  start          install if needed, start Kafka (KRaft) and S3 on 127.0.0.1, wait until both answer
  stop [--purge] stop both (SIGTERM, then SIGKILL); --purge also deletes their data dirs
  status         what is running, pids, ports (exit 1 unless both run)
  env            print export lines: eval "$(scripts/services/services.sh env)"
With DISTILLERY_SERVICES_SECURE=1 every command acts on the secured pair (SASL_SSL Kafka, HTTPS S3; docs/security.md).
EOF
}

main() {
  local cmd="${1:-}"
  [ "$#" -gt 0 ] && shift
  validate_config
  case "$cmd" in
    install)
      take_lock
      cmd_install
      ;;
    start)
      take_lock
      cmd_start
      ;;
    stop)
      take_lock
      cmd_stop "$@"
      ;;
    status) cmd_status ;;
    env) cmd_env ;;
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
  esac
}

main "$@"
