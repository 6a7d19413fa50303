package export

import (
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

// A source read that a lost connection broke is tried again; a query the database refuses is not.
func TestTransientSourceErrors(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		fmt.Errorf("copy postgres: commit: %w", errors.New("conn closed")), // the chaos suite's
		fmt.Errorf("read: %w", io.ErrUnexpectedEOF),
		fmt.Errorf("query: %w", net.ErrClosed),
		errors.New("write tcp 127.0.0.1:1->127.0.0.1:2: write: connection reset by peer"),
		&pgconn.PgError{Code: "08006"},
		&pgconn.PgError{Code: "40001"},
		errors.New("database is locked"),
	} {
		require.True(t, transient(err), "%v", err)
	}
	for _, err := range []error{
		&pgconn.PgError{Code: "42601"}, // a syntax error
		&pgconn.PgError{Code: "22012"}, // a division by zero
		errors.New("no such column: x"),
	} {
		require.False(t, transient(err), "%v", err)
	}
}
