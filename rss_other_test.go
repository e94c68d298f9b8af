//go:build !linux

package mmcache

import "testing"

// regionRSS reports 0 where the resident set size is not read.
func regionRSS(testing.TB, *Cache) int64 { return 0 }

// regionResident reports 0 where residency is not read.
func regionResident(testing.TB, *Cache) int64 { return 0 }
