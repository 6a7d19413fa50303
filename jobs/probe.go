package jobs

import (
	"context"
	"fmt"
)

// ProbeWrite commits a one-row write to the task database and returns its error: nil means the
// database took a write just now, not only that it answers. A full disk, a file system gone
// read-only or a PostgreSQL server in recovery answer reads and refuse this. It costs one small
// transaction (an UPDATE of herald_probe's one row), so a caller that polls, as readiness does,
// should cache its answer; ctx bounds the wait, for the connection too.
func (s *Store) ProbeWrite(ctx context.Context) error {
	// An upsert, not a plain UPDATE: it also writes when the row has been deleted.
	_, err := s.be.exec(ctx, `INSERT INTO herald_probe (id, probed_at) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at`, nowMicros())
	if err != nil {
		return fmt.Errorf("write probe: %w", err)
	}
	return nil
}
