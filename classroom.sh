#!/usr/bin/env bash
# Serve a whole class: N Streamlit processes behind nginx with sticky sessions (services/classroom.py).
# Sets everything up on first use like run.sh; needs Debian's nginx (apt-get install -y nginx).
#   bash classroom.sh                     # two processes per core (at most 8), students open http://<this machine>:8501
#   bash classroom.sh --processes 2 --port 8080 --address 127.0.0.1
# `bash run.sh` (one process, no nginx) stays the default for a single user or a small group.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
exec .venv/bin/python -m services.classroom "$@"
