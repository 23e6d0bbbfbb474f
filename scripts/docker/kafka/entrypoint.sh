#!/usr/bin/env bash
# Entrypoint of distillery/kafka: server.properties from defaults + KAFKA_* variables, KRaft storage formatted once,
# then the broker in the foreground (exec: SIGTERM reaches the JVM, which shuts down in a controlled way).
#
# KAFKA_FOO_BAR=x becomes foo.bar=x ('__' → '_', '___' → '-'), the convention of the apache/kafka image, so the
# same variables work here, in deploy/compose.yaml and in a Kubernetes StatefulSet. CLUSTER_ID names the KRaft
# cluster. KAFKA_HEAP_OPTS / KAFKA_OPTS go to the JVM, not into the properties.
set -euo pipefail

config_dir="${KAFKA_CONFIG_DIR:-/tmp/kafka-config}"
cluster_id="${CLUSTER_ID:-ZGlzdGlsbGVyeS1rYWZrYQ}"

# Defaults: the single dev node scripts/services/services.sh runs, reachable as localhost:9092 from inside.
declare -A props=(
  [process.roles]=broker,controller
  [node.id]=1
  [controller.quorum.voters]=1@localhost:9093
  [listeners]=PLAINTEXT://:9092,CONTROLLER://:9093
  [advertised.listeners]=PLAINTEXT://localhost:9092
  [controller.listener.names]=CONTROLLER
  [inter.broker.listener.name]=PLAINTEXT
  [listener.security.protocol.map]=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
  [log.dirs]=/var/lib/kafka/data
  [num.partitions]=1
  [default.replication.factor]=1
  [auto.create.topics.enable]=false
  [offsets.topic.replication.factor]=1
  [offsets.topic.num.partitions]=8
  [transaction.state.log.replication.factor]=1
  [transaction.state.log.min.isr]=1
  [transaction.state.log.num.partitions]=4
  [group.initial.rebalance.delay.ms]=0
  [group.min.session.timeout.ms]=1000
  [num.network.threads]=2
  [num.io.threads]=4
  [num.recovery.threads.per.data.dir]=1
)

while IFS= read -r var; do
  case "$var" in
    KAFKA_HEAP_OPTS | KAFKA_OPTS | KAFKA_JVM_PERFORMANCE_OPTS | KAFKA_LOG4J_OPTS | KAFKA_JMX_OPTS | KAFKA_GC_LOG_OPTS | \
      KAFKA_CONFIG_DIR | KAFKA_VERSION) continue ;;
    KAFKA_*) ;;
    *) continue ;;
  esac
  name="${var#KAFKA_}"
  name="${name,,}"
  name="${name//___/-}"
  name="${name//__/$'\x01'}"
  name="${name//_/.}"
  name="${name//$'\x01'/_}"
  props[$name]="${!var}"
done < <(compgen -e)

mkdir -p "$config_dir"
{
  echo "# Written by /opt/kafka/entrypoint.sh at start-up from its defaults and the KAFKA_* environment."
  for key in $(printf '%s\n' "${!props[@]}" | sort); do printf '%s=%s\n' "$key" "${props[$key]}"; done
} >"$config_dir/server.properties"

# shellcheck disable=SC2206 # the JVM options are meant to split into words
jvm=(${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
  -Djava.awt.headless=true -Dlog4j.configuration=file:/opt/kafka/log4j.properties ${KAFKA_OPTS:-})

data_dir="${props[log.dirs]%%,*}"
if [ ! -f "$data_dir/meta.properties" ]; then
  java "${jvm[@]}" -cp '/opt/kafka/libs/*' kafka.tools.StorageTool format --ignore-formatted \
    -t "$cluster_id" -c "$config_dir/server.properties"
fi
exec java "${jvm[@]}" -cp '/opt/kafka/libs/*' kafka.Kafka "$config_dir/server.properties"
