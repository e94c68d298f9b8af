package caches

import (
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version returns the version of the module p comes from, as compiled into this binary: the
// module version for a peer, the Go version for the standard library, and for mmcache (which
// the bench module replaces with the working tree) the git commit of the working tree when git
// can tell it.
func Version(p Peer) string {
	switch {
	case p.Baseline:
		return "written for these benchmarks"
	case p.Module == "":
		return runtime.Version()
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, m := range info.Deps {
		if m.Path != p.Module {
			continue
		}
		if m.Replace != nil {
			return "working tree " + gitDescribe()
		}
		return m.Version
	}
	return "unknown"
}

// gitDescribe names the commit of the repository holding the current directory.
func gitDescribe() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty", "--exclude", "*").Output()
	if err != nil {
		return "(git unavailable)"
	}
	return strings.TrimSpace(string(out))
}
