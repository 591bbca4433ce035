#!/usr/bin/env bash
# Start Attention Lab: sets everything up on first use, then serves the app on http://localhost:8501
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
exec .venv/bin/python -m streamlit run serve.py "$@"   # app.py with the class session's light route
