#!/usr/bin/env bash
# Run every test: sets up the environment, installs Debian's Chromium for the browser tests when it is missing
# (needs root / apt-get), then runs pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[test] installing Debian's chromium for the browser tests"
    # fonts-noto-cjk: Japanese pages in Chromium (screenshots, the Japanese browser checks) instead of boxes
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk) \
      >/tmp/attention-lab-apt.log 2>&1 || { echo "[test] chromium install failed, see /tmp/attention-lab-apt.log"; exit 1; }
  else
    echo "[test] /usr/bin/chromium is missing and this user cannot apt-get install it."
    echo "[test] Install it (sudo apt-get install -y chromium) to run tests/e2e; running the rest now."
    set -- --ignore=tests/e2e "$@"
  fi
elif [ ! -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "[test] installing fonts-noto-cjk so Chromium draws the Japanese pages"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk) \
    >>/tmp/attention-lab-apt.log 2>&1 || echo "[test] fonts-noto-cjk install failed (Japanese shows as boxes)"
fi
# nginx (Debian's package) for the two-processes-behind-nginx test; without it only that test is skipped.
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[test] installing Debian's nginx for the multi-process test"
    # policy-rc.d exit 101: the package must not start the system's nginx service; the test runs its own.
    own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; own_policy=1; fi
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx) >>/tmp/attention-lab-apt.log 2>&1
    apt_rc=$?
    [ $own_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ $apt_rc = 0 ] || { echo "[test] nginx install failed, see /tmp/attention-lab-apt.log"; exit 1; }
  else
    echo "[test] nginx is missing and this user cannot apt-get install it: tests/e2e/test_e2e_classroom.py is skipped."
  fi
fi
# redis-server (Debian's package) for the class store's Redis tests, which start their own server on a free port.
if ! command -v redis-server >/dev/null && [ ! -x /usr/bin/redis-server ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[test] installing Debian's redis-server for the class store's tests"
    # policy-rc.d exit 101: the package must not start the system's redis service; the tests run their own.
    own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; own_policy=1; fi
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >>/tmp/attention-lab-apt.log 2>&1
    apt_rc=$?
    [ $own_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ $apt_rc = 0 ] || { echo "[test] redis-server install failed, see /tmp/attention-lab-apt.log"; exit 1; }
  else
    echo "[test] redis-server is missing and this user cannot apt-get install it: the Redis class-store tests are skipped."
  fi
fi
# The house linter and formatter first (ruff.toml): a lint error or an unformatted file fails the run, as a test does.
echo "[test] ruff check and ruff format --check"
.venv/bin/ruff check . || { echo "[test] ruff check failed: fix the lines above (.venv/bin/ruff check --fix . fixes some)"; exit 1; }
.venv/bin/ruff format --check . || { echo "[test] files not formatted: run .venv/bin/ruff format ."; exit 1; }
set +e
.venv/bin/python -m pytest tests "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then echo "[test] pytest collected no tests"; exit 0; fi
exit $rc
