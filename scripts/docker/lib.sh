#!/usr/bin/env bash
# Shared by scripts/docker/*.sh: messages, the cache dir, a lock, and the docker client that can build with BuildKit.
# Sourced, not run.

DOCKER_HOME="${DISTILLERY_DOCKER_HOME:-$HOME/.cache/distillery/docker}"

say() { printf 'docker: %s\n' "$*" >&2; }
die() { printf 'docker: error: %s\n' "$*" >&2; exit 1; }

# Serialises installs and builds between concurrent callers (several test runs, CI and an engineer on one machine).
# Re-entrant across the scripts: build-images.sh holds it while it runs install.sh.
take_docker_lock() {
  mkdir -p "$DOCKER_HOME"
  [ "${DISTILLERY_DOCKER_LOCK_HELD:-}" = "$DOCKER_HOME" ] && return 0
  command -v flock >/dev/null 2>&1 || return 0
  exec 8>"$DOCKER_HOME/.lock"
  flock -w 1800 8 || die "timed out waiting for the lock $DOCKER_HOME/.lock held by another scripts/docker run"
  export DISTILLERY_DOCKER_LOCK_HELD="$DOCKER_HOME"
}

docker_answers() { timeout 20 docker info >/dev/null 2>&1; }

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

image_label() { docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null; }

# `docker build` with BuildKit (needed for RUN --mount=type=secret). A CLI with the buildx plugin uses it; without
# it, a Docker 23+ CLI has no BuildKit client at all, while Debian's 20.10 CLI (/usr/bin/docker from docker.io) has
# one built in behind DOCKER_BUILDKIT=1. DISTILLERY_DOCKER_CLI picks a client explicitly.
buildkit_build() {
  local cli="${DISTILLERY_DOCKER_CLI:-}"
  if [ -z "$cli" ]; then
    if docker buildx version >/dev/null 2>&1; then
      docker buildx build --load "$@"
      return
    fi
    cli=docker
    local major
    major="$(docker version -f '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)"
    if [[ "$major" =~ ^[0-9]+$ ]] && ((major >= 23)) && [ -x /usr/bin/docker ]; then cli=/usr/bin/docker; fi
  fi
  DOCKER_BUILDKIT=1 "$cli" build "$@"
}

# The Debian mirrors apt already uses here (deb822 sources first, then sources.list), so debootstrap and apt inside
# builds go where this machine's network settings allow. `debian_mirror security` gives the security archive.
debian_mirror() {
  local want="${1:-main}" uri="" match='$2 !~ /security/' fallback=http://deb.debian.org/debian
  if [ "$want" = security ]; then match='$2 ~ /security/'; fallback=http://deb.debian.org/debian-security; fi
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri="$(awk "/^URIs:/ && $match { print \$2; exit }" /etc/apt/sources.list.d/debian.sources)"
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri="$(awk "\$1 == \"deb\" && $match { print \$2; exit }" /etc/apt/sources.list)"
  fi
  printf '%s' "${uri:-$fallback}"
}

# The CA bundle the host trusts: handed to builds as a BuildKit secret (never a layer) so npm and apt inside a build
# trust a TLS-intercepting egress proxy like the host does.
host_ca_bundle() {
  local f
  for f in "${NODE_EXTRA_CA_CERTS:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
    if [ -n "$f" ] && [ -s "$f" ]; then
      printf '%s' "$f"
      return 0
    fi
  done
  return 1
}

# One digest over the contents and relative paths of the given files (sorted), for "inputs unchanged" checks.
hash_files() {
  local f
  for f in "$@"; do printf '%s  %s\n' "$(sha256sum <"$f" | cut -d' ' -f1)" "$f"; done | sort -k2 | sha256sum | cut -c1-16
}
