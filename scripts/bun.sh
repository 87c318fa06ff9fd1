#!/bin/sh
# Runs a script with the project's pinned Bun, installing dependencies first on a bare machine,
# so `npm start` and `npm test` need nothing but Node and npm beforehand.
set -e
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/bun ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund >&2
fi
exec node_modules/.bin/bun "$@"
