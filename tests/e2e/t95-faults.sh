#!/bin/sh
# The fault matrix (tests/e2e/faults.py): every stage x every API request x
# 500, 502, 503, 429, timeout, dropped connection, malformed and truncated
# JSON, 401, 403, 404; exit code, one error line naming the request, no
# secret, and convergence to the clean run's state once the fault is gone.
exec python3 "$(dirname "$0")/faults.py"
