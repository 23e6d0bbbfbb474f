#!/usr/bin/env bash
# The Docker tests (test/docker/): installs Docker and the stand-in bases if needed, builds the images that are
# missing or stale, lints the Dockerfiles, then runs the tests with Kafka + S3 (containers, or scripts/services).
#
# Usage: scripts/docker/test.sh [test files…]     (npm run test:docker; default: every test/docker/*.test.ts)
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/docker/install.sh
bash scripts/docker/build-images.sh
bash scripts/docker/lint.sh
if [ "$#" -gt 0 ]; then files=("$@"); else mapfile -t files < <(find test/docker -name '*.test.ts' | sort); fi
exec bash scripts/test.sh "${files[@]}"
