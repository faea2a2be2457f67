#!/usr/bin/env bash
# Installs the tools dmp-rs needs, each only when it is missing at its pinned
# version, so a second run takes about a second. Recipe and pins:
# docs/TOOLCHAIN.md (the project copy of the verified offline recipe).
#
# Usage: scripts/install-tools.sh [--with-web] [--with-edge] [--with-e2e] [--all]
#
# Always (what scripts/test.sh needs):
#   * rustup components rustfmt + clippy, targets wasm32-unknown-unknown and
#     wasm32v1-none (the latter proves dmp-core is really no_std);
#   * a Python venv with the reference implementation dnsmesh==0.7.5 from PyPI,
#     used by the interop tests (DMP_REFERENCE_PYTHON).
# Optional stages, for the issues that need them (a fresh machine pays about
# 12 minutes of `cargo install` for all three cargo tools):
#   --with-web   trunk 0.21.14, wasm-bindgen-cli 0.2.130, npm packages (binaryen@132)
#   --with-edge  wasm-bindgen-cli 0.2.130, worker-build 0.8.7, npm packages (wrangler@4.86.0)
#   --with-e2e   Debian chromium + chromium-driver (apt), npm packages (playwright-core)
#   --all        all of the above
# Everything comes from the package registries (crates.io, PyPI, npm, apt) or
# rustup; no prebuilt binary is downloaded from anywhere else.
#
# Output: progress goes to stderr; stdout carries only `export NAME=value`
# lines, so a caller can do
#   eval "$(scripts/install-tools.sh)"
# and get DMP_REFERENCE_PYTHON (and, when those tools exist, PATH,
# WASM_BINDGEN_BIN, WASM_OPT_BIN, ESBUILD_BIN and wrangler's offline settings).
#
# Environment:
#   DMP_TOOLS_DIR  where the venv and the cargo-installed tools live
#                  (default: $HOME/.cache/dmp; cargo tools go to $DMP_TOOLS_DIR/bin)
#   DMP_PYTHON     interpreter used to create the venv (default: python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

DNSMESH_VERSION=0.7.5
TRUNK_VERSION=0.21.14
WASM_BINDGEN_VERSION=0.2.130 # must equal the wasm-bindgen pin in Cargo.toml
WORKER_BUILD_VERSION=0.8.7

DMP_TOOLS_DIR="${DMP_TOOLS_DIR:-$HOME/.cache/dmp}"
VENV="$DMP_TOOLS_DIR/venv-dnsmesh-$DNSMESH_VERSION"

with_web=0 with_edge=0 with_e2e=0
for arg in "$@"; do
  case "$arg" in
    --with-web) with_web=1 ;;
    --with-edge) with_edge=1 ;;
    --with-e2e) with_e2e=1 ;;
    --all) with_web=1 with_edge=1 with_e2e=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
      exit 0
      ;;
    *)
      echo "install-tools.sh: unknown argument '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

log() { echo "[install-tools] $*" >&2; }
die() {
  echo "[install-tools] ERROR: $*" >&2
  exit 1
}

mkdir -p "$DMP_TOOLS_DIR"
# Two runs at once (say, two worktrees) must not both build the venv.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$DMP_TOOLS_DIR/.install-tools.lock"
  flock 9
fi

# --- Rust components and targets --------------------------------------------
command -v cargo >/dev/null 2>&1 || die "cargo not found; install Rust with rustup first"
if command -v rustup >/dev/null 2>&1; then
  installed_components="$(rustup component list --installed 2>/dev/null || true)"
  for comp in rustfmt clippy; do
    if ! grep -q "^$comp" <<<"$installed_components"; then
      log "rustup component add $comp"
      rustup component add "$comp" >&2
    fi
  done
  installed_targets="$(rustup target list --installed)"
  for target in wasm32-unknown-unknown wasm32v1-none; do
    if ! grep -qx "$target" <<<"$installed_targets"; then
      log "rustup target add $target"
      rustup target add "$target" >&2
    fi
  done
else
  log "rustup not found: assuming rustfmt, clippy and the wasm targets are present"
fi

# --- Reference implementation (Python) ----------------------------------------
venv_has_dnsmesh() {
  local info
  [ -x "$VENV/bin/python" ] || return 1
  # Captured first: `pip show | grep -q` can kill pip with SIGPIPE, which
  # pipefail would report as "not installed".
  info="$("$VENV/bin/python" -m pip show --disable-pip-version-check dnsmesh 2>/dev/null)" || return 1
  grep -qx "Version: $DNSMESH_VERSION" <<<"$info"
}
if ! venv_has_dnsmesh; then
  py="${DMP_PYTHON:-python3}"
  command -v "$py" >/dev/null 2>&1 || die "$py not found (set DMP_PYTHON to a Python 3.10+ interpreter)"
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating venv $VENV"
    "$py" -m venv "$VENV" >&2 || die "could not create the venv (Debian: apt-get install python3-venv)"
  fi
  log "pip install dnsmesh==$DNSMESH_VERSION (PyPI)"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet "dnsmesh==$DNSMESH_VERSION" >&2
  venv_has_dnsmesh || die "dnsmesh $DNSMESH_VERSION is still not importable from $VENV"
fi
log "reference: dnsmesh $DNSMESH_VERSION in $VENV"

# --- Optional: cargo-installed build tools ----------------------------------
TOOLS_BIN="$DMP_TOOLS_DIR/bin"
have_crate() { # have_crate CRATE VERSION: installed at exactly VERSION under $DMP_TOOLS_DIR?
  local list
  list="$(cargo install --list --root "$DMP_TOOLS_DIR" 2>/dev/null)" || return 1
  grep -qx "$1 v$2:" <<<"$list"
}
cargo_tool() { # cargo_tool CRATE VERSION [extra cargo install flags]
  local crate="$1" version="$2"
  shift 2
  if ! have_crate "$crate" "$version"; then
    log "cargo install $crate@$version (takes minutes; once per machine)"
    cargo install "$crate@$version" "$@" --root "$DMP_TOOLS_DIR" >&2
  fi
}
if [ "$with_web" = 1 ]; then
  # trunk 0.22 needs rustc >= 1.96.1; 0.21.14 is the newest that builds here.
  cargo_tool trunk "$TRUNK_VERSION" --locked
fi
if [ "$with_web" = 1 ] || [ "$with_edge" = 1 ]; then
  # Not --locked: its lockfile pins a webpki-roots the index may not have.
  cargo_tool wasm-bindgen-cli "$WASM_BINDGEN_VERSION"
fi
if [ "$with_edge" = 1 ]; then
  cargo_tool worker-build "$WORKER_BUILD_VERSION" --locked
fi

# --- Optional: browser for the end-to-end tests -------------------------------
if [ "$with_e2e" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || die "chromium is missing and apt-get is not available"
  sudo_cmd=()
  [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  log "apt-get install chromium chromium-driver"
  "${sudo_cmd[@]}" apt-get update >&2
  # Never Debian's binaryen: its wasm-opt 108 output crashes in Chromium.
  "${sudo_cmd[@]}" apt-get install -y chromium chromium-driver >&2
fi

# --- Optional: npm packages (package.json / package-lock.json) ----------------
if [ "$with_web" = 1 ] || [ "$with_edge" = 1 ] || [ "$with_e2e" = 1 ]; then
  command -v npm >/dev/null 2>&1 || die "npm not found (Node 20 or newer is needed)"
  stamp="$ROOT/node_modules/.dmp-lock-sha256"
  want="$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    log "npm ci (binaryen, wrangler, playwright-core)"
    (cd "$ROOT" && npm ci --no-audit --no-fund >&2)
    echo "$want" >"$stamp"
  fi
fi

# --- What the caller should export ---------------------------------------------
emit() { printf 'export %s=%q\n' "$1" "$2"; }
emit DMP_REFERENCE_PYTHON "$VENV/bin/python"
path="$PATH"
[ -d "$ROOT/node_modules/.bin" ] && path="$ROOT/node_modules/.bin:$path"
[ -d "$TOOLS_BIN" ] && path="$TOOLS_BIN:$path"
[ "$path" = "$PATH" ] || emit PATH "$path"
# worker-build ignores PATH for these three.
[ -x "$TOOLS_BIN/wasm-bindgen" ] && emit WASM_BINDGEN_BIN "$TOOLS_BIN/wasm-bindgen"
[ -x "$ROOT/node_modules/.bin/wasm-opt" ] && emit WASM_OPT_BIN "$ROOT/node_modules/.bin/wasm-opt"
[ -x "$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild" ] &&
  emit ESBUILD_BIN "$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"
if [ -x "$ROOT/node_modules/.bin/wrangler" ]; then
  # Offline, non-interactive wrangler: no telemetry, no Request.cf fetch.
  emit WRANGLER_SEND_METRICS false
  emit WRANGLER_SEND_ERROR_REPORTS false
  emit CLOUDFLARE_CF_FETCH_ENABLED false
fi
exit 0
