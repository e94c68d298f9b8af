#!/usr/bin/env bash
# Checks the bench module the way CI does: vet, its unit tests, every benchmark once, the
# report in quick mode (every workload tiny) into a temporary directory, the side-by-side
# comparison on defaults and the snapshot speeds at a tiny size, and the fill check: a cache on its defaults uses at
# least 90% of Capacity before its first eviction, whatever the entry sizes, and holds no fewer
# entries as Capacity grows. Under 3 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")"
go vet ./...
go test -count=1 ./...
go test -short -run '^$' -bench . -skip 'BenchmarkIterate/10M' -benchtime 1x ./... # -short: small fixtures; this only checks that each runs
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go run ./cmd/report -quick -out "$out"
test -s "$out/benchmarks.md"
go run ./cmd/defaults -keys 20k -values 64 -runs 1 -cell 20ms -warm 0 >"$out/defaults.md"
grep -q '^| Set |' "$out/defaults.md"
go run ./cmd/fill -target 90
go run ./cmd/snapshot -keys 20k -runs 1 -dir "$out" >"$out/snapshot.md"
grep -q '^| 20 k | Load' "$out/snapshot.md"
