#!/usr/bin/env bash
# htcmesos set-up: installs what a command needs, then runs it.
#
#   scripts/bootstrap.sh demo [ARGS...]   the embedded default (emulated cluster)
#   scripts/bootstrap.sh test [ARGS...]   the whole test suite (pytest ARGS)
#   scripts/bootstrap.sh install          only install
#
# Idempotent: Debian packages are installed only when missing, the virtualenv
# (.venv, or $HTCMESOS_VENV) is rebuilt only when setup.py or this script change.
# demo and test need a Docker engine: if none answers, dockerd is started (overlay2,
# else vfs; data in /var/lib/htcmesos/docker, log /var/log/htcmesos-dockerd.log) and
# left running, as an installed engine would be. The role images are then built on
# the local HTCondor base (Debian trixie packages via mmdebstrap, cached per recipe in
# /var/cache/htcmesos) unless a registry serves the official ones; `htcmesos images
# build` does it again when executors/ changes. ZooKeeper and etcd are started by the
# test set-up (tests/services.py) on loopback and stopped by PID.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HTCMESOS_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
MODE="${1:-install}"
[ $# -gt 0 ] && shift

say() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

case "$MODE" in
  demo|test|install) ;;
  -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
  *) die "unknown command '$MODE' (expected demo, test or install)" ;;
esac

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else command -v sudo >/dev/null || die "need root or sudo for: $*"; sudo "$@"; fi
}

# --- Debian packages -------------------------------------------------------
deb_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

need_debs=()
"$PY" -c 'import venv, ensurepip' 2>/dev/null || need_debs+=(python3-venv)
"$PY" - <<'PYEOF' 2>/dev/null || need_debs+=(python3-dev)
import os, sysconfig, sys
sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)
PYEOF
command -v gcc >/dev/null || need_debs+=(gcc libc6-dev)
command -v make >/dev/null || need_debs+=(make)
command -v dockerd >/dev/null || need_debs+=(docker.io)
command -v mmdebstrap >/dev/null || need_debs+=(mmdebstrap)
command -v iptables >/dev/null || need_debs+=(iptables)
if [ "$MODE" != demo ]; then
  command -v etcd >/dev/null || need_debs+=(etcd-server)
  [ -f /usr/share/java/zookeeper.jar ] || need_debs+=(zookeeper)
  command -v java >/dev/null || need_debs+=(default-jre-headless)
  command -v busybox >/dev/null || need_debs+=(busybox-static)
  command -v ip >/dev/null || need_debs+=(iproute2)
  command -v openssl >/dev/null || need_debs+=(openssl)
  # the dashboard's browser test, and promtool for the alert rules
  command -v chromium >/dev/null || need_debs+=(chromium)
  command -v chromedriver >/dev/null || need_debs+=(chromium-driver)
  command -v promtool >/dev/null || need_debs+=(prometheus)
fi
if [ ${#need_debs[@]} -gt 0 ]; then
  say "installing Debian packages: ${need_debs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q
  as_root apt-get install -y -q --no-install-recommends "${need_debs[@]}"
fi

# --- virtualenv + Python packages -------------------------------------------
stamp_of() { cat "$ROOT/setup.py" "$ROOT/scripts/bootstrap.sh" | sha256sum | cut -d' ' -f1; }
STAMP="$VENV/.htcmesos-stamp"
if [ ! -x "$VENV/bin/htcmesos" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$(stamp_of)" ]; then
  say "preparing virtualenv $VENV"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
  "${PIP[@]}" install --upgrade pip 'setuptools>=68' wheel
  if ! "$VENV/bin/python" -c 'import http_parser.parser' 2>/dev/null; then
    # http-parser 0.9.0 ships C from an old Cython that does not compile on 3.11:
    # regenerate it with a current Cython through the sdist's own Makefile.
    say "rebuilding http-parser (pymesos dependency) with a current Cython"
    work="$(mktemp -d)"
    "${PIP[@]}" install 'cython>=3,<4'
    "${PIP[@]}" download --no-deps --no-binary :all: 'http-parser==0.9.0' -d "$work"
    tar -xzf "$work"/http-parser-0.9.0.tar.gz -C "$work"
    ( cd "$work/http-parser-0.9.0" && mv Makefile.ext Makefile && make -s clean \
      && PATH="$VENV/bin:$PATH" "$VENV/bin/python" -m pip wheel -q --no-build-isolation --no-deps . -w "$work/wheels" )
    "${PIP[@]}" install "$work"/wheels/http_parser-*.whl
    rm -rf "$work"
  fi
  "${PIP[@]}" install -e "$ROOT[test]"
  stamp_of > "$STAMP"
fi

# --- Docker engine and role images (demo, test) -------------------------------
export PATH="$VENV/bin:$PATH"
cd "$ROOT"

engine_answers() { "$VENV/bin/python" -c 'import docker; docker.from_env(timeout=10).ping()' 2>/dev/null; }

start_engine() {
  engine_answers && return 0
  [ "$(id -u)" = 0 ] || { say "no Docker engine answers and starting one needs root"; return 1; }
  local data=/var/lib/htcmesos/docker log=/var/log/htcmesos-dockerd.log driver pid deadline
  mkdir -p "$data"
  for driver in overlay2 vfs; do
    say "starting dockerd (--storage-driver=$driver, data in $data, log $log)"
    setsid dockerd --storage-driver="$driver" --data-root="$data" >>"$log" 2>&1 </dev/null &
    pid=$!
    deadline=$(( $(date +%s) + 60 ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
      engine_answers && return 0
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    say "dockerd with $driver did not come up: $(tail -n 3 "$log" | tr '\n' ' ')"
  done
  return 1
}

if [ "$MODE" != install ]; then
  if start_engine; then
    "$VENV/bin/htcmesos" images build >&2 \
      || say "warning: the role images could not be built (see above)"
  else
    say "warning: no Docker engine: the demo runs simulated, Docker tests cannot run"
  fi
fi

# --- run ---------------------------------------------------------------------
case "$MODE" in
  install) say "ready: $VENV/bin/htcmesos" ;;
  demo) exec "$VENV/bin/htcmesos" demo "$@" ;;
  test)
    # pytest exits 5 when no test ran; that is a failure here as well (any non-zero is).
    exec "$VENV/bin/python" -m pytest "$@" ;;
esac
