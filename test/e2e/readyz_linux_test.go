package e2e

import (
	"net/http"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// setFileSizeLimit sets RLIMIT_FSIZE of process pid (prlimit(2)): with 0, every write to a file
// fails with EFBIG, as writes fail with ENOSPC on a full disk. Go ignores the SIGXFSZ that comes
// with it, so the process lives on and sees the errors.
func setFileSizeLimit(t *testing.T, pid int, limit uint64) {
	t.Helper()
	lim := syscall.Rlimit{Cur: limit, Max: ^uint64(0)}
	_, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_FSIZE,
		uintptr(unsafe.Pointer(&lim)), 0, 0, 0)
	require.Zero(t, errno, "prlimit(%d, RLIMIT_FSIZE, %d): %v", pid, limit, errno)
}

// A node whose disk stops taking writes leaves the load balancer: its task database (SQLite)
// still answers reads, and /readyz answers 503 with the reason; once writes work again it is
// ready again.
func TestReadyzWhenTheDiskTakesNoWrites(t *testing.T) {
	t.Parallel()
	s := start(t, "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--no-demo-data")
	status, body := request(t, http.MethodGet, s.base+"/readyz", "", "")
	require.Equal(t, http.StatusOK, status, body)

	setFileSizeLimit(t, s.cmd.Process.Pid, 0)
	// /readyz reuses a probe's answer for 5 s (app.DefaultReadyProbeEvery).
	require.Eventually(t, func() bool {
		status, body = request(t, http.MethodGet, s.base+"/readyz", "", "")
		return status == http.StatusServiceUnavailable
	}, 30*time.Second, 100*time.Millisecond, "/readyz kept answering %d %v with a disk that takes no writes", status, body)
	e := body["error"].(map[string]any)
	require.Equal(t, "database_unavailable", e["code"])
	require.Equal(t, "The task database does not take writes (disk I/O error); the node's log has the details.", e["message"])
	t.Logf("/readyz: %s", e["message"])

	setFileSizeLimit(t, s.cmd.Process.Pid, ^uint64(0))
	require.Eventually(t, func() bool {
		status, body = request(t, http.MethodGet, s.base+"/readyz", "", "")
		return status == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond, "/readyz kept answering %d %v once the disk took writes again", status, body)
}
