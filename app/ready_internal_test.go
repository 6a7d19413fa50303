package app

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// /readyz is public: it names the kind of failure, never the error's text (hosts, paths, driver
// messages), which goes to the log.
func TestWriteFailureKinds(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]string{
		fmt.Errorf("no write within 200ms: %w", context.DeadlineExceeded):                           "no write within 200ms",
		errors.New("write probe: database or disk is full (13)"):                                    "disk full",
		errors.New("write probe: write /var/lib/herald/herald.db-wal: file too large"):              "disk full",
		errors.New("write probe: disk I/O error (778)"):                                             "disk I/O error",
		errors.New("write probe: attempt to write a readonly database (8)"):                         "read-only",
		errors.New(`write probe: dial tcp db.internal.example:5432: connect: connection refused`):   "unreachable",
		errors.New(`write probe: ERROR: permission denied for table herald_probe (SQLSTATE 42501)`): "the write failed",
	} {
		got := writeFailure(err)
		require.Equal(t, want, got, err.Error())
	}
}
