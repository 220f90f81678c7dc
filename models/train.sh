#!/usr/bin/env bash
# One command to retrain the edge model (npm run model:train):
#   1. make sure the Debian Python packages are there (models/setup.sh),
#   2. extract the TypeScript features of every record to a CSV (models/extract-features.ts),
#   3. train, cross-validate and export ONNX + model card + report (models/train.py),
#   4. refresh the golden-vector fixture the tests compare against (models/make-golden.ts).
# Usage: bash models/train.sh [records dir, default ../shared/corpus/physionet-2015-false-alarms/windows-30s]
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/corpus/physionet-2015-false-alarms/windows-30s}"
[ -d "$data" ] || { echo "models/train.sh: no records at $data" >&2; exit 1; }
bash models/setup.sh
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
npx tsx models/extract-features.ts "$data" "$work/features.csv"
/usr/bin/python3 models/train.py "$work/features.csv" models
npx tsx models/make-golden.ts
npx tsx models/evaluate.ts models/fixtures/records
