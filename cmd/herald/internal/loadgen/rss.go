package loadgen

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// RSS returns the resident set size of a process in KiB, from /proc/PID/status (Linux).
func RSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close() //nolint:errcheck // a /proc file read to its end
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// SettledRSS waits until the process's RSS stops moving (two reads 500 ms apart within 1 %), at most
// limit, and returns the last reading.
func SettledRSS(pid int, limit time.Duration) (int64, error) {
	deadline := time.Now().Add(limit)
	prev, err := RSS(pid)
	if err != nil {
		return 0, err
	}
	for time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		cur, err := RSS(pid)
		if err != nil {
			return 0, err
		}
		if diff := cur - prev; diff*100 <= prev && -diff*100 <= prev {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}
