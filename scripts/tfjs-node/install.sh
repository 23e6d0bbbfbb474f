#!/usr/bin/env bash
# Installs @tensorflow/tfjs-node (cpu) or @tensorflow/tfjs-node-gpu (gpu) into this project's node_modules, built
# from the TensorFlow C API inside the PyPI wheel, without the package's own libtensorflow download.
#
# usage: bash scripts/tfjs-node/install.sh [cpu|gpu]        (default cpu; run from anywhere)
#
# Why: the package's install step downloads libtensorflow from storage.googleapis.com, which many build
# machines cannot reach, while PyPI is. The recipe (docs/tensorflow-backend.md):
#   1. `npm install --no-save --ignore-scripts` the package (package.json and the lockfile stay untouched, so
#      `npm ci` never needs it);
#   2. the TensorFlow 2.9.1 wheel (tensorflow-cpu, or tensorflow for CUDA) from PyPI, cp310 manylinux2014;
#   3. its libtensorflow_framework.so.2 and its Python extension (which holds the C API) into the package's
#      deps/lib, libtensorflow.so -> the extension, and a generated stub library for the CPython symbols the
#      extension references (scripts/tfjs-node/pystub.sh), linked into the addon with --no-as-needed;
#   4. `node-pre-gyp rebuild --build-from-source` against Node's own headers.
# The wheel and the built result are cached in ~/.cache/distillery/tfjs-node (DISTILLERY_TFJS_NODE_CACHE), so
# running it again — e.g. after `npm ci` wiped node_modules — only reinstalls the JS package and links the
# cached libraries and addon: a few seconds. Already installed: returns at once.
set -euo pipefail

TFJS_NODE_VERSION=4.22.0   # the version of @tensorflow/tfjs this project uses
TF_VERSION=2.9.1           # the libtensorflow tfjs-node 4.22.0 is built against (its scripts/deps-constants.js)
STUB=distillery_pystub

die() { echo "tfjs-node install: $*" >&2; exit 1; }
say() { echo "tfjs-node install: $*" >&2; }

variant="${1:-cpu}"
case "$variant" in
  cpu) pkg=@tensorflow/tfjs-node; wheel_name=tensorflow-cpu ;;
  gpu) pkg=@tensorflow/tfjs-node-gpu; wheel_name=tensorflow ;;
  *) die "unknown variant '$variant'; usage: install.sh [cpu|gpu]" ;;
esac
[ "$#" -le 1 ] || die "usage: install.sh [cpu|gpu]"

project="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$project"
pkg_dir="$project/node_modules/$pkg"
cache="${DISTILLERY_TFJS_NODE_CACHE:-$HOME/.cache/distillery/tfjs-node}"
key="$variant-$TFJS_NODE_VERSION-tf$TF_VERSION"
product="$cache/build/$key"      # deps/lib + lib/napi-v*/tfjs_binding.node, complete when $product/stamp exists
stamp_file="$pkg_dir/.distillery-install"

# --- platform: the wheel is manylinux2014 x86_64 (glibc >= 2.17)
[ "$(uname -s)" = Linux ] || die "only Linux is supported (this is $(uname -s)); on other systems use \`npm install $pkg@$TFJS_NODE_VERSION\`"
[ "$(uname -m)" = x86_64 ] || die "only x86_64 is supported (this is $(uname -m)): the TensorFlow $TF_VERSION wheels used here are x86_64 only"
command -v node >/dev/null || die "node is not on the PATH"
command -v npm >/dev/null || die "npm is not on the PATH"
[ -f package.json ] || die "no package.json in $project"

installed_ok() {
  [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$key" ] &&
    [ -f "$pkg_dir/package.json" ] && grep -q "\"version\": \"$TFJS_NODE_VERSION\"" "$pkg_dir/package.json" &&
    compgen -G "$pkg_dir/lib/napi-v*/tfjs_binding.node" >/dev/null && [ -e "$pkg_dir/deps/lib/libtensorflow.so" ]
}
if installed_ok; then
  say "$pkg $TFJS_NODE_VERSION (TensorFlow $TF_VERSION) already installed"
  exit 0
fi

mkdir -p "$cache"
# One install at a time per cache (parallel test runs, several checkouts).
exec 9>"$cache/.lock"
command -v flock >/dev/null && flock 9
if installed_ok; then exit 0; fi

# A directory tree as hard links when the cache is on the same file system (the extension is 450 MB), else a copy.
link_tree() { rm -rf "$2"; cp -a -l "$1" "$2" 2>/dev/null || { rm -rf "$2"; cp -a "$1" "$2"; }; }

# Links a cached build (default: this variant's) into a package directory (default: this variant's).
install_product() {
  local from="${1:-$product}" to="${2:-$pkg_dir}"
  link_tree "$from/deps" "$to/deps"
  link_tree "$from/lib" "$to/lib"
}

# --- 1. the JS package, without its install script (that is the download this script replaces)
if ! grep -qs "\"version\": \"$TFJS_NODE_VERSION\"" "$pkg_dir/package.json"; then
  # npm prunes what is in neither package.json nor the command line, so name the other variant too if installed.
  specs=("$pkg@$TFJS_NODE_VERSION")
  for other in @tensorflow/tfjs-node @tensorflow/tfjs-node-gpu; do
    if [ "$other" != "$pkg" ] && grep -qs "\"version\": \"$TFJS_NODE_VERSION\"" "node_modules/$other/package.json"; then
      specs+=("$other@$TFJS_NODE_VERSION")
    fi
  done
  say "npm install --no-save --ignore-scripts ${specs[*]}"
  npm install --no-save --ignore-scripts --no-audit --no-fund "${specs[@]}" >&2
  # npm may have re-extracted the other variant, without its build: link its cached one back.
  for spec in "${specs[@]:1}"; do
    other="${spec%@*}"
    other_key="$([ "$other" = @tensorflow/tfjs-node-gpu ] && echo gpu || echo cpu)-$TFJS_NODE_VERSION-tf$TF_VERSION"
    if [ -f "$cache/build/$other_key/stamp" ] && ! compgen -G "node_modules/$other/lib/napi-v*/tfjs_binding.node" >/dev/null; then
      install_product "$cache/build/$other_key" "node_modules/$other"
      echo "$other_key" >"node_modules/$other/.distillery-install"
    fi
  done
fi
[ -f "$pkg_dir/binding.gyp" ] || die "npm did not install $pkg into $pkg_dir"


verify() {
  # The addon loads, the backend initialises, and a convolution runs.
  TF_CPP_MIN_LOG_LEVEL=2 node -e "
    const tf = require('$pkg');
    const y = tf.conv2d(tf.ones([1, 4, 4, 2]), tf.ones([3, 3, 2, 1]), 1, 'same');
    const v = y.dataSync();
    if (tf.getBackend() !== 'tensorflow' || v[5] !== 18) throw new Error('unexpected result ' + tf.getBackend() + ' ' + v[5]);
    console.error('tfjs-node install: verified: ' + '$pkg' + ' ' + tf.version['tfjs-node'] + ', TensorFlow ' + tf.backend().binding.TF_Version);
  "
}

if [ -f "$product/stamp" ]; then
  say "linking the cached build from $product"
  install_product
  verify || die "the cached build in $product does not load; delete that directory and run again"
  echo "$key" >"$stamp_file"
  exit 0
fi

# --- 2. tools the build needs
command -v python3 >/dev/null || die "python3 is required (pip downloads the TensorFlow wheel; node-gyp runs on it)"
python3 -m pip --version >/dev/null 2>&1 || die "pip is required to download the TensorFlow wheel from PyPI (install python3-pip)"
command -v c++ >/dev/null || command -v g++ >/dev/null || die "a C++ compiler is required to build the addon (e.g. apt-get install g++ make)"
command -v cc >/dev/null || die "a C compiler (cc) is required to build the CPython stub (e.g. apt-get install gcc)"
command -v make >/dev/null || die "make is required to build the addon (e.g. apt-get install make)"
command -v nm >/dev/null || die "nm is required (e.g. apt-get install binutils)"
nodedir="${DISTILLERY_NODEDIR:-$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")}"
[ -f "$nodedir/include/node/node_api.h" ] ||
  die "Node's headers are not in $nodedir/include/node (set DISTILLERY_NODEDIR to the prefix that has include/node/node_api.h)"
node_gyp="${npm_config_node_gyp:-$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js}"
[ -f "$node_gyp" ] || die "node-gyp not found (looked for npm's own at $node_gyp; set npm_config_node_gyp)"
pre_gyp="$(node -p "require.resolve('@mapbox/node-pre-gyp/bin/node-pre-gyp', { paths: ['$pkg_dir'] })")" ||
  die "@mapbox/node-pre-gyp (a dependency of $pkg) is missing"

# --- 3. the wheel
wheels="$cache/wheels/$variant"
mkdir -p "$wheels"
find_wheel() { compgen -G "$wheels/${wheel_name//-/_}-$TF_VERSION-cp310-*manylinux*x86_64.whl" | head -n1 || true; }
wheel="$(find_wheel)"
if [ -z "$wheel" ]; then
  say "downloading $wheel_name==$TF_VERSION from PyPI (cp310, manylinux2014_x86_64; ~200 MB for cpu, ~500 MB for gpu)"
  python3 -m pip download --no-deps --only-binary=:all: --python-version 310 --platform manylinux2014_x86_64 \
    -d "$wheels" "$wheel_name==$TF_VERSION" >&2 || die "pip could not download $wheel_name==$TF_VERSION"
  wheel="$(find_wheel)"
  [ -n "$wheel" ] || die "pip finished but no $wheel_name $TF_VERSION wheel is in $wheels"
fi

# --- 4. libraries, headers and the stub, staged next to the cache entry
stage="$product.tmp"
rm -rf "$stage"
mkdir -p "$stage/deps/lib" "$stage/deps/include"
say "extracting the C API from $(basename "$wheel")"
python3 - "$wheel" "$stage/wheel" <<'EOF'
import sys, zipfile
wanted = ('tensorflow/libtensorflow_framework.so.2', 'tensorflow/python/_pywrap_tensorflow_internal.so')
with zipfile.ZipFile(sys.argv[1]) as z:
    names = [n for n in z.namelist() if n in wanted or n.startswith('tensorflow/include/tensorflow/c/')
             or n.startswith('tensorflow/include/tensorflow/core/platform/ctstring')]
    missing = [w for w in wanted if w not in names]
    if missing:
        sys.exit(f'the wheel lacks {missing}')
    for n in names:
        z.extract(n, sys.argv[2])
EOF
mv "$stage/wheel/tensorflow/libtensorflow_framework.so.2" "$stage/wheel/tensorflow/python/_pywrap_tensorflow_internal.so" "$stage/deps/lib/"
mv "$stage/wheel/tensorflow/include/tensorflow" "$stage/deps/include/"
rm -rf "$stage/wheel"
(
  cd "$stage/deps/lib"
  ln -s _pywrap_tensorflow_internal.so libtensorflow.so
  ln -s libtensorflow_framework.so.2 libtensorflow_framework.so
)
bash "$project/scripts/tfjs-node/pystub.sh" "$stage/deps/lib/_pywrap_tensorflow_internal.so" "$stage/deps/lib/lib$STUB.so" >&2

# --- 5. build the addon in the package against them
rm -rf "$pkg_dir/lib" "$pkg_dir/build"
link_tree "$stage/deps" "$pkg_dir/deps"
# The stub must be a direct dependency of the addon, so it joins the addon's symbol lookup scope before the
# extension's CPython references are resolved; --no-as-needed keeps the linker from dropping it as unused.
node - "$pkg_dir/binding.gyp" "$STUB" <<'EOF'
const fs = require('fs');
const [file, stub] = process.argv.slice(2);
const gyp = fs.readFileSync(file, 'utf8');
const anchor = "'-ltensorflow_framework',";
if (gyp.includes(`-l${stub}`)) process.exit(0);
if (!gyp.includes(anchor)) { console.error(`tfjs-node install: ${file} has no ${anchor} line to patch`); process.exit(1); }
fs.writeFileSync(file, gyp.replace(anchor, `${anchor}\n            '-Wl,--no-as-needed',\n            '-l${stub}',`));
EOF
build_log="$cache/build/$key.log"
say "building the addon (about a minute; log in $build_log)"
if ! (cd "$pkg_dir" && npm_config_node_gyp="$node_gyp" node "$pre_gyp" rebuild --build-from-source --nodedir="$nodedir") >"$build_log" 2>&1; then
  tail -n 30 "$build_log" >&2
  die "the addon build failed (full log: $build_log)"
fi
compgen -G "$pkg_dir/lib/napi-v*/tfjs_binding.node" >/dev/null || die "the build produced no lib/napi-v*/tfjs_binding.node"
rm -rf "$pkg_dir/build"
cp -a "$pkg_dir/lib" "$stage/lib"
rm -rf "$stage/deps/include"
verify || die "the built addon does not load (see above)"

echo "$key" >"$stage/stamp"
rm -rf "$product"
mv "$stage" "$product"
# Re-link the package's deps from the cache, so that it holds no second copy of the 450 MB extension.
install_product
echo "$key" >"$stamp_file"
say "installed $pkg $TFJS_NODE_VERSION with TensorFlow $TF_VERSION (cached in $product)"
