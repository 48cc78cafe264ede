#!/usr/bin/env bash
# The whole test suite: build, start what the integration tests need, run unit then integration
# tests, and print one closing line "tests: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

pnpm build || exit 1
out=$(mktemp -d)
status=0
bash infra/services.sh
bash infra/kafka/start.sh || status=1

pnpm exec vitest run --project unit --reporter=default --reporter=json --outputFile="$out/unit.json" || status=1
pnpm exec vitest run --project integration --passWithNoTests --reporter=default --reporter=json --outputFile="$out/integration.json" || status=1
node scripts/test-summary.mjs "$out/unit.json" "$out/integration.json" || status=1
rm -rf "$out"
exit $status
