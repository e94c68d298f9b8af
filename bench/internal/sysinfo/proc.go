// Package sysinfo reads what the benchmarks report about the machine and the process: the CPU
// model, memory, resident set size, and the Go runtime's heap and GC metrics.
package sysinfo

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// RSS returns the process's resident set size in bytes (VmRSS), or 0 where /proc is absent.
func RSS() int64 { return statusKB("VmRSS:") * 1024 }

// PeakRSS returns the process's peak resident set size in bytes (VmHWM), or 0.
func PeakRSS() int64 { return statusKB("VmHWM:") * 1024 }

// statusKB reads a "kB" field of /proc/self/status.
func statusKB(field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(data) {
		if rest, ok := bytes.CutPrefix(line, []byte(field)); ok {
			f := strings.Fields(string(rest))
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// firstMatch returns the value after "key:" on the first line of path that starts with key.
func firstMatch(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, key) {
			if _, v, ok := strings.Cut(line, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return ""
}

// readTrim returns the trimmed contents of a small file, or "".
func readTrim(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// MemAvailable returns the memory the kernel estimates is available for new work without
// swapping (MemAvailable in /proc/meminfo), in bytes, or -1 where it cannot tell.
func MemAvailable() int64 {
	f := strings.Fields(firstMatch("/proc/meminfo", "MemAvailable"))
	if len(f) == 0 {
		return -1
	}
	kb, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return -1
	}
	return kb * 1024
}
