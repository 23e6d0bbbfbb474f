#!/usr/bin/env bash
# Installs Docker from Debian, starts dockerd when it is not running, and builds the stand-in base images locally.
#
# Usage: scripts/docker/install.sh [engine|bases|all]   (default all; idempotent, a second run takes seconds)
# No registry serves images here, so the bases FROM lines name are made on this machine: local/debian:bookworm
# (debootstrap minbase, cached as a tarball) and a stand-in tagged node:20-bookworm-slim carrying this machine's
# Node 20. See deploy/IMAGES.md.
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"

SUITE=bookworm
DEBIAN_IMAGE="local/debian:$SUITE"
NODE_IMAGE="node:20-bookworm-slim"
DOCKERD_LOG="$DOCKER_HOME/dockerd.log"
START_TIMEOUT="${DISTILLERY_DOCKER_TIMEOUT:-90}"

# apt is shared with whoever else installs on this machine: wait for its locks instead of failing, and retry
# transient mirror errors.
apt_retry() {
  local try
  for try in 1 2 3 4 5 6 7 8 9 10; do
    if DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 "$@" >>"$DOCKER_HOME/apt.log" 2>&1; then
      return 0
    fi
    say "apt-get $1 failed (try $try; lock held or mirror error, see $DOCKER_HOME/apt.log); retrying in 15 s"
    sleep 15
  done
  tail -n 20 "$DOCKER_HOME/apt.log" >&2
  die "apt-get $* kept failing"
}

install_packages() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  [ "${#missing[@]}" -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "installing ${missing[*]} needs root (apt-get)"
  local started=$SECONDS
  say "installing ${missing[*]} from Debian (apt-get)..."
  apt_retry update
  apt_retry install -y --no-install-recommends "${missing[@]}"
  say "installed ${missing[*]} in $((SECONDS - started))s"
}

start_dockerd() {
  if docker_answers; then
    say "dockerd answers ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"
    return 0
  fi
  command -v dockerd >/dev/null 2>&1 || die "dockerd not installed"
  if pgrep -x dockerd >/dev/null 2>&1; then
    say "a dockerd is running but not answering yet; waiting for it"
  else
    say "starting dockerd (log: $DOCKERD_LOG)"
    # Detached from this shell (setsid nohup) so it outlives the caller; 8>&- so it does not inherit our lock.
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null 8>&- &
  fi
  local waited=$SECONDS
  until docker_answers; do
    if ((SECONDS - waited >= START_TIMEOUT)); then
      tail -n 25 "$DOCKERD_LOG" >&2 2>/dev/null || true
      die "docker info did not answer within ${START_TIMEOUT}s"
    fi
    sleep 0.5
  done
  say "dockerd ready in $((SECONDS - waited))s ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"
}

# debootstrap minbase of bookworm from apt's own mirror, cached as a tarball: the slow part (about 2 minutes).
debian_tarball() {
  local tarball="$DOCKER_HOME/debian-$SUITE-minbase.tar.gz" rootfs mirror started=$SECONDS
  if [ -s "$tarball" ]; then
    printf '%s' "$tarball"
    return 0
  fi
  mirror="$(debian_mirror)"
  rootfs="$(mktemp -d "$DOCKER_HOME/rootfs.XXXXXX")"
  say "debootstrap --variant=minbase $SUITE from $mirror (a few minutes)..."
  if ! debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$DOCKER_HOME/debootstrap.log" 2>&1; then
    tail -n 20 "$DOCKER_HOME/debootstrap.log" >&2
    rm -rf "$rootfs"
    die "debootstrap failed (full log: $DOCKER_HOME/debootstrap.log)"
  fi
  # debootstrap lists only the release itself; images that apt-get install want its updates and security fixes too.
  printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' "$mirror" "$SUITE" "$mirror" "$SUITE" \
    "$(debian_mirror security)" "$SUITE" >"$rootfs/etc/apt/sources.list"
  # What debootstrap leaves behind that an image should not carry: downloaded .debs and package lists.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/debootstrap
  tar -C "$rootfs" --numeric-owner -czf "$tarball.tmp" .
  rm -rf "$rootfs"
  mv "$tarball.tmp" "$tarball"
  say "debootstrap done in $((SECONDS - started))s ($(du -h "$tarball" | cut -f1))"
  printf '%s' "$tarball"
}

build_debian_image() {
  if image_exists "$DEBIAN_IMAGE"; then
    say "$DEBIAN_IMAGE present"
    return 0
  fi
  local tarball
  tarball="$(debian_tarball)"
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'LABEL io.distillery.standin=debootstrap-minbase' \
    --change 'CMD ["bash"]' \
    "$tarball" "$DEBIAN_IMAGE" >/dev/null
  say "imported $DEBIAN_IMAGE from $tarball"
}

# This machine's Node 20 as a tarball of its installed files: the node binary, npm/npx/corepack and the global
# node_modules they live in, and the headers. Taken from the prefix holding bin/node rather than from the nodejs .deb
# because Debian's archive has only Node 18 and npm here may have been upgraded in place (then the .deb's file list
# no longer matches what is installed).
node_tarball() {
  local tarball="$DOCKER_HOME/node-${1//[ \/]/-}.tar" node prefix path
  if [ -s "$tarball" ]; then
    printf '%s' "$tarball"
    return 0
  fi
  node="$(readlink -f "$(command -v node)")"
  prefix="$(dirname "$(dirname "$node")")"
  : >"$DOCKER_HOME/node-files.txt"
  for path in bin/node bin/npm bin/npx bin/corepack lib/node_modules/npm lib/node_modules/corepack include/node; do
    if [ -e "$prefix/$path" ] || [ -L "$prefix/$path" ]; then printf '%s\n' "$path" >>"$DOCKER_HOME/node-files.txt"; fi
  done
  # Relative to the prefix: the stand-in unpacks it into /usr/local, where the official image has node.
  tar -C "$prefix" -cf "$tarball.tmp" -T "$DOCKER_HOME/node-files.txt"
  mv "$tarball.tmp" "$tarball"
  printf '%s' "$tarball"
}

build_node_image() {
  local version
  version="$(node --version)"
  [[ "$version" == v20.* ]] || die "the node:20-bookworm-slim stand-in needs this machine's node to be Node 20, found $version"
  # npm is part of the identity: it may have been upgraded in place without a new node.
  version="$version npm $(npm --version) in /usr/local"
  if image_exists "$NODE_IMAGE"; then
    local have
    have="$(image_label "$NODE_IMAGE" io.distillery.standin-id)"
    # An image without our stand-in label is the real one (pulled where a registry is reachable): keep it.
    if [ -z "$(image_label "$NODE_IMAGE" io.distillery.standin)" ] || [ "$have" = "$version" ]; then
      say "$NODE_IMAGE present${have:+ (stand-in: node $have)}"
      return 0
    fi
    say "$NODE_IMAGE stand-in has ${have:-an unknown node}, this machine node $version: rebuilding"
  fi
  local ctx tarball
  tarball="$(node_tarball "$version")"
  rm -rf "$DOCKER_HOME"/node-ctx.* # a context a failed run left (runs hold the lock, so none is in use)
  ctx="$(mktemp -d "$DOCKER_HOME/node-ctx.XXXXXX")"
  ln "$tarball" "$ctx/node.tar" 2>/dev/null || cp "$tarball" "$ctx/node.tar"
  cp "$SCRIPT_DIR/node-standin/Dockerfile" "$ctx/Dockerfile"
  if ! buildkit_build --network host --build-arg "NODE_VERSION=${version%% *}" --build-arg "STANDIN_ID=$version" -t "$NODE_IMAGE" "$ctx" >"$DOCKER_HOME/node-standin.log" 2>&1; then
    tail -n 20 "$DOCKER_HOME/node-standin.log" >&2
    rm -rf "$ctx"
    die "building the $NODE_IMAGE stand-in failed (log: $DOCKER_HOME/node-standin.log)"
  fi
  rm -rf "$ctx"
  say "built $NODE_IMAGE stand-in (node $version)"
}

main() {
  local what="${1:-all}" started=$SECONDS
  case "$what" in engine | bases | all) ;; *) die "usage: $0 [engine|bases|all]" ;; esac
  take_docker_lock
  if [ "$what" != bases ]; then
    install_packages
    start_dockerd
  fi
  if [ "$what" != engine ]; then
    docker_answers || die "docker info does not answer: run '$0 engine' first"
    build_debian_image
    build_node_image
  fi
  say "install $what done in $((SECONDS - started))s"
}

main "$@"
