#!/usr/bin/env bash
# Client hook of scripts/test-edge.sh: the web client's browser tests
# (scripts/test-browser.sh: two profiles message each other in headless
# Chromium) with the edge node as the node. The edge has no UDP/TCP DNS,
# so the reference-CLI checks (which read over classic DNS) are skipped;
# the offline check is skipped too (it would stop the node).
#
# Usage: scripts/test-edge-web.sh BASE_URL   (an open-mode edge node)
set -euo pipefail

BASE="${1:?usage: scripts/test-edge-web.sh BASE_URL}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# A zone of its own, so runs against one persistent edge never collide.
export DMP_ZONE="${DMP_ZONE:-web$(date +%s).test}"
export DMP_SKIP_REFERENCE=1
unset DMP_NODE_PID DMP_DNS_ADDR
exec bash scripts/test-browser.sh "${BASE%/}"
