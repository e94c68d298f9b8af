//go:build !race

package mmcache

// raceOn reports a test binary built with -race (see race_on_test.go).
const raceOn = false
