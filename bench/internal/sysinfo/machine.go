package sysinfo

import (
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes the computer and toolchain a run used.
type Machine struct {
	CPU        string  // model name from /proc/cpuinfo
	Cores      int     // logical CPUs
	MemoryGiB  float64 // MemTotal
	GoVersion  string
	GOMAXPROCS int
	OS, Arch   string
	Kernel     string
	THP        string // transparent huge pages setting
	LoadAvg    string // at the time of the call
	Time       time.Time
}

// Describe reads the machine's description.
func Describe() Machine {
	m := Machine{
		CPU:        firstMatch("/proc/cpuinfo", "model name"),
		Cores:      runtime.NumCPU(),
		GoVersion:  runtime.Version(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		Kernel:     readTrim("/proc/sys/kernel/osrelease"),
		THP:        readTrim("/sys/kernel/mm/transparent_hugepage/enabled"),
		LoadAvg:    LoadAvg(),
		Time:       time.Now().UTC(),
	}
	if m.CPU == "" {
		m.CPU = "unknown"
	}
	if f := strings.Fields(firstMatch("/proc/meminfo", "MemTotal")); len(f) > 0 {
		kb, _ := strconv.ParseFloat(f[0], 64)
		m.MemoryGiB = kb / (1 << 20)
	}
	return m
}

// LoadAvg returns the 1, 5 and 15 minute load averages as the kernel prints them.
func LoadAvg() string {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
