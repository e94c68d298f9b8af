//go:build linux && amd64 && race

package mmcache

// raceOn reports a test binary built with -race, where the slowest tests run fewer rounds: the
// plain run makes all of them, and the race run looks for data races, not for rare states.
const raceOn = true
