package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// raiseNoFile lifts the soft limit on open files as high as the process may and returns it: Go
// already raises it to the hard limit, and a root process may go beyond. Each connection holds
// one descriptor, in the server and in the driver alike.
func raiseNoFile() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("get open-file limit: %w", err)
	}
	const want = 1 << 20
	if lim.Cur < want {
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}) != nil && lim.Cur < lim.Max {
			_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: lim.Max, Max: lim.Max})
		}
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("get open-file limit: %w", err)
	}
	return lim.Cur, nil
}

// readRSSKiB returns VmRSS of process pid in KiB.
func readRSSKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of process %d: %w", pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest) // "12345 kB"
			if len(f) == 0 {
				break
			}
			v, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmRSS %q of process %d: %w", line, pid, err)
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in status of process %d", pid)
}

// Bounds of settledRSSKiB.
const (
	rssInterval  = 500 * time.Millisecond
	rssMinWait   = 2 * time.Second
	rssMaxWait   = 15 * time.Second
	rssTolerance = 0.01
)

// settledRSSKiB waits until the RSS of pid has settled, that is at least rssMinWait and until two
// reads rssInterval apart differ by less than 1%, but no longer than rssMaxWait, and returns the
// last read.
func settledRSSKiB(ctx context.Context, pid int) (int64, error) {
	start := time.Now()
	prev, err := readRSSKiB(pid)
	if err != nil {
		return 0, err
	}
	t := time.NewTicker(rssInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return prev, ctx.Err()
		case <-t.C:
		}
		cur, err := readRSSKiB(pid)
		if err != nil {
			return 0, err
		}
		diff := float64(cur - prev)
		if diff < 0 {
			diff = -diff
		}
		waited := time.Since(start)
		if waited >= rssMaxWait || (waited >= rssMinWait && diff < rssTolerance*float64(cur)) {
			return cur, nil
		}
		prev = cur
	}
}

// ephemeralPorts returns how many local ports the kernel hands out to outgoing connections of
// one source address to one destination.
func ephemeralPorts() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 28232 // Linux's default range, 32768-60999
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 28232
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || hi < lo {
		return 28232
	}
	return hi - lo + 1
}
