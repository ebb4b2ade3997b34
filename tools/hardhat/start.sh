#!/usr/bin/env bash
# Start a Hardhat node (cancun, chainId 31337) on 127.0.0.1:${HARDHAT_PORT:-8545} in the
# background, write its pid to $1, and wait until it answers eth_blockNumber (max 60 s).
# Stop it with: kill "$(cat PIDFILE)".
set -euo pipefail
pid_file="${1:?usage: start.sh PID_FILE}"
port="${HARDHAT_PORT:-8545}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
if [ ! -x node_modules/.bin/hardhat ]; then
  npm ci --no-audit --no-fund >/dev/null
fi
log_file="${HARDHAT_LOG:-$here/hardhat-node.log}"
payload='{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}'
answers() {
  local reply
  reply="$(curl -s -m 2 -H 'Content-Type: application/json' -d "$payload" "http://127.0.0.1:$port" || true)"
  [[ "$reply" == *'"result"'* ]]
}
if answers; then
  echo "something already answers on 127.0.0.1:$port; stop it first (or set HARDHAT_PORT)" >&2
  exit 1
fi
node_modules/.bin/hardhat node --hostname 127.0.0.1 --port "$port" >"$log_file" 2>&1 &
echo $! >"$pid_file"
for _ in $(seq 1 120); do
  if answers; then
    echo "hardhat node ready on http://127.0.0.1:$port (pid $(cat "$pid_file"))"
    exit 0
  fi
  if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    echo "hardhat node exited; see $log_file" >&2
    exit 1
  fi
  sleep 0.5
done
echo "hardhat node did not answer within 60 s; see $log_file" >&2
kill "$(cat "$pid_file")" 2>/dev/null || true
exit 1
