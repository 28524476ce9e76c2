#!/bin/sh
# make demo: the whole flow on the bundled GitLab simulator, hour by hour
# (scripts/demo.py). KEEP=1 leaves the simulator running and prints the
# URLs to open.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
exec python3 "$top/scripts/demo.py"
