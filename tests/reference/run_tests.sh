#!/usr/bin/env bash
# Self-test of the reference oracle (tests/reference/oracle.py).
# Needs the reference's interpreter: DMP_REFERENCE_PYTHON=/path/to/venv/bin/python
# Usage: tests/reference/run_tests.sh [test-name-filter]
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "${DMP_REFERENCE_PYTHON:-}" ]; then
    echo "error: DMP_REFERENCE_PYTHON is not set; point it at the python of a venv" >&2
    echo "       with dnsmesh 0.7.5 installed, e.g." >&2
    echo "       DMP_REFERENCE_PYTHON=~/.cache/dmp/venv-dnsmesh-0.7.5/bin/python $0" >&2
    exit 2
fi
if ! "$DMP_REFERENCE_PYTHON" -c 'import dmp' 2>/dev/null; then
    echo "error: $DMP_REFERENCE_PYTHON cannot import the reference package 'dmp'" >&2
    exit 2
fi
ver="$("$DMP_REFERENCE_PYTHON" -c 'import importlib.metadata as m; print(m.version("dnsmesh"))' 2>/dev/null || echo unknown)"
if [ "$ver" != "0.7.5" ]; then
    echo "warning: reference is dnsmesh $ver, the oracle targets 0.7.5" >&2
fi
exec "$DMP_REFERENCE_PYTHON" "$here/self_test.py" "$@"
