//go:build linux && amd64 && !race

package mmcache

// raceOn reports a test binary built with -race (see race_on_test.go). Only the crash test
// (persist_kill_test.go) asks, so these files have its build line.
const raceOn = false
