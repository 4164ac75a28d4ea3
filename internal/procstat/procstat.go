// Package procstat reads what Linux's /proc says of other processes, for
// the benchmarks: CPU time, and which process is the test MinIO.
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CPU is the CPU time (user+system) of a running process, with that of
// its children it has waited for when children is set (sshd: the
// per-connection processes that served internal-sftp). It assumes 100
// clock ticks per second, as Linux reports them; 0 if pid cannot be read.
func CPU(pid int, children bool) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:])) // f[0] is field 3, the state
	if len(f) < 15 {
		return 0
	}
	n := func(k int) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
	ticks := n(11) + n(12)
	if children {
		ticks += n(13) + n(14)
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// FindMinIO finds the MinIO server listening on endpoint by its command
// line (scripts/testenv starts it with --address endpoint), or 0.
func FindMinIO(endpoint string) int {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline")) // #nosec G304 -- a /proc path built from a PID
		args := strings.Split(string(cmd), "\x00")
		if len(args) > 2 && filepath.Base(args[0]) == "minio" && slices.Contains(args, endpoint) {
			return pid
		}
	}
	return 0
}
