#!/usr/bin/env bash
# Bundles the CLI and the lab runtime into one file each (dist/bundle/): a command that loads
# one file instead of ~360 modules starts in about half the time. pino stays external: it
# resolves its transports (pino-pretty) by name at run time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
node_modules/.bin/esbuild dist/cli/klab.js dist/agent/main.js \
  --bundle --splitting --chunk-names=chunks/[name]-[hash] --platform=node --format=esm --target=node20 --outbase=dist --outdir=dist/bundle \
  --external:pino --external:pino-pretty --log-level=warning \
  --banner:js="import { createRequire as __klabCreateRequire } from 'node:module'; const require = __klabCreateRequire(import.meta.url);"
