#!/usr/bin/env bash
# Builds distillery's images locally: distillery:<version> (deploy/Dockerfile, CPU), distillery/kafka:3.9.1 and
# distillery/versitygw:1.8.0 (the dev services). An image is rebuilt only when the digest of its inputs (files,
# base image) differs from the one it is labelled with; --force rebuilds anyway.
#
# Usage: scripts/docker/build-images.sh [all|distillery|kafka|versitygw]... [--force]
# Needs a running dockerd and the stand-in bases (scripts/docker/install.sh; run here when missing). The Kafka jars
# and the versitygw binary come from scripts/services/services.sh install. See deploy/IMAGES.md.
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"
# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"

KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
VERSITYGW_VERSION="${VERSITYGW_VERSION:-v1.8.0}"
SERVICES_HOME="${DISTILLERY_SERVICES_HOME:-$HOME/.cache/distillery/services}"
BASE_IMAGE=local/debian:bookworm
FORCE=false
# Build contexts made in the cache dir; removed on exit, whatever happens.
CONTEXTS=()
trap 'rm -rf "${CONTEXTS[@]}"' EXIT

image_id() { docker image inspect -f '{{.Id}}' "$1"; }

up_to_date() {
  local image=$1 digest=$2
  ! $FORCE && image_exists "$image" && [ "$(image_label "$image" io.distillery.inputs)" = "$digest" ]
}

# build IMAGE DIGEST LOG ARGS…: a BuildKit build on the host network, with the host's CA bundle as the ca_bundle
# secret when it has one, labelled with the inputs digest.
build() {
  local image=$1 digest=$2 log="$DOCKER_HOME/build-${1//[\/:]/-}.log" started=$SECONDS ca
  shift 2
  local args=(--network host --label "io.distillery.inputs=$digest" -t "$image")
  if ca="$(host_ca_bundle)"; then args+=(--secret "id=ca_bundle,src=$ca"); fi
  say "building $image (log: $log)..."
  if ! nice -n 10 bash -c '. "$1"; shift; buildkit_build "$@"' _ "$SCRIPT_DIR/lib.sh" --progress plain "${args[@]}" "$@" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "building $image failed (full log: $log)"
  fi
  # The image this one replaced is now untagged: drop it (only dangling images of these builds carry the label).
  docker image prune -f --filter "label=io.distillery.inputs" >/dev/null 2>&1 || true
  say "built $image in $((SECONDS - started))s ($(docker image inspect -f '{{.Size}}' "$image" | awk '{ printf "%d MB", $1 / 1e6 }'))"
}

build_distillery() {
  local version image digest files=()
  version="$(node -p "require('$REPO_DIR/package.json').version")"
  image="distillery:$version"
  # The context is .dockerignore's allowlist: hash exactly those paths.
  mapfile -t files < <(cd "$REPO_DIR" && sed -n 's/^!//p' .dockerignore | xargs -I{} find {} -type f 2>/dev/null | sort)
  digest="$(cd "$REPO_DIR" && hash_files deploy/Dockerfile .dockerignore "${files[@]}")-$(image_id node:20-bookworm-slim | cut -c8-19)"
  if up_to_date "$image" "$digest"; then
    say "$image up to date"
    return 0
  fi
  build "$image" "$digest" -f "$REPO_DIR/deploy/Dockerfile" "$REPO_DIR"
}

build_kafka() {
  local image="distillery/kafka:$KAFKA_VERSION" libs="$SERVICES_HOME/kafka-$KAFKA_VERSION/libs" ctx digest
  [ -f "$SERVICES_HOME/kafka-$KAFKA_VERSION/.installed" ] || KAFKA_VERSION="$KAFKA_VERSION" bash "$REPO_DIR/scripts/services/services.sh" install
  digest="$(cd "$SCRIPT_DIR/kafka" && hash_files Dockerfile entrypoint.sh log4j.properties)-$(cd "$libs" && hash_files ./*.jar)-$(image_id "$BASE_IMAGE" | cut -c8-19)"
  if up_to_date "$image" "$digest"; then
    say "$image up to date"
    return 0
  fi
  ctx="$(mktemp -d "$DOCKER_HOME/ctx-kafka.XXXXXX")"
  CONTEXTS+=("$ctx")
  cp "$SCRIPT_DIR"/kafka/{Dockerfile,entrypoint.sh,log4j.properties} "$ctx/"
  cp -al "$libs" "$ctx/libs" 2>/dev/null || cp -a "$libs" "$ctx/libs"
  build "$image" "$digest" --build-arg "KAFKA_VERSION=$KAFKA_VERSION" "$ctx"
}

build_versitygw() {
  local image="distillery/versitygw:${VERSITYGW_VERSION#v}" bin="$SERVICES_HOME/versitygw-$VERSITYGW_VERSION/bin/versitygw" ctx digest
  [ -x "$bin" ] || VERSITYGW_VERSION="$VERSITYGW_VERSION" bash "$REPO_DIR/scripts/services/services.sh" install
  digest="$(cd "$SCRIPT_DIR/versitygw" && hash_files Dockerfile)-$(cd "$(dirname "$bin")" && hash_files versitygw)-$(image_id "$BASE_IMAGE" | cut -c8-19)"
  if up_to_date "$image" "$digest"; then
    say "$image up to date"
    return 0
  fi
  ctx="$(mktemp -d "$DOCKER_HOME/ctx-versitygw.XXXXXX")"
  CONTEXTS+=("$ctx")
  cp "$SCRIPT_DIR/versitygw/Dockerfile" "$ctx/"
  cp -l "$bin" "$ctx/versitygw" 2>/dev/null || cp "$bin" "$ctx/versitygw"
  build "$image" "$digest" --build-arg "VERSITYGW_VERSION=$VERSITYGW_VERSION" "$ctx"
}

main() {
  local targets=() t started=$SECONDS
  for t in "$@"; do
    case "$t" in
      --force) FORCE=true ;;
      all) targets+=(distillery kafka versitygw) ;;
      distillery | kafka | versitygw) targets+=("$t") ;;
      *) die "usage: $0 [all|distillery|kafka|versitygw]... [--force]" ;;
    esac
  done
  [ "${#targets[@]}" -gt 0 ] || targets=(distillery kafka versitygw)
  take_docker_lock
  docker_answers || die "docker info does not answer: run scripts/docker/install.sh first"
  bash "$SCRIPT_DIR/install.sh" bases
  for t in "${targets[@]}"; do "build_$t"; done
  say "images ready in $((SECONDS - started))s: ${targets[*]}"
}

main "$@"
