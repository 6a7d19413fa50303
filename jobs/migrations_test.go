package jobs

import (
	"context"
	"testing"
	"testing/fstest"
	"time"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"
)

// Both dialects have the same steps: a step written for one database only would leave the other
// one's schema behind.
func TestMigrationsSameStepsOnBothDialects(t *testing.T) {
	t.Parallel()
	lite, err := loadMigrations(migrationFiles, "sqlite")
	require.NoError(t, err)
	pg, err := loadMigrations(migrationFiles, "postgres")
	require.NoError(t, err)
	require.NotEmpty(t, lite)
	require.Len(t, pg, len(lite))
	for i := range lite {
		require.Equal(t, lite[i].version, pg[i].version)
		require.Equal(t, lite[i].name, pg[i].name, "step %d has another name in each dialect", lite[i].version)
		require.NotEmpty(t, lite[i].sql)
		require.NotEmpty(t, pg[i].sql)
	}
}

func TestMigrationsRefuseBadNumbering(t *testing.T) {
	t.Parallel()
	for name, files := range map[string][]string{
		"gap":       {"001_a.sql", "003_c.sql"},
		"repeat":    {"001_a.sql", "001_b.sql"},
		"not first": {"002_b.sql"},
		"no number": {"first.sql"},
		"not sql":   {"001_a.txt"},
		"no name":   {"001.sql"},
	} {
		fsys := fstest.MapFS{}
		for _, f := range files {
			fsys["migrations/x/"+f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
		}
		_, err := loadMigrations(fsys, "x")
		require.Error(t, err, name)
	}
}

// riverMigrator is River's migrator on a store's database, whatever its driver.
type riverMigrator interface {
	Migrate(ctx context.Context, direction rivermigrate.Direction, opts *rivermigrate.MigrateOpts) (*rivermigrate.MigrateResult, error)
	Validate(ctx context.Context, opts *rivermigrate.ValidateOpts) (*rivermigrate.ValidateResult, error)
}

func newRiverMigrator(t *testing.T, s *Store) riverMigrator {
	t.Helper()
	var (
		m   riverMigrator
		err error
	)
	switch be := s.be.(type) {
	case *sqliteBackend:
		m, err = rivermigrate.New(riversqlite.New(be.db), &rivermigrate.Config{Logger: s.logger})
	case *postgresBackend:
		m, err = rivermigrate.New(riverpgxv5.New(be.pool), &rivermigrate.Config{Logger: s.logger, Schema: be.schema})
	default:
		t.Fatalf("no River migrator for %T", s.be)
	}
	require.NoError(t, err)
	return m
}

// riverV047Version is the last River migration of River v0.47, the version Herald used before.
const riverV047Version = 7

// A database that an older River left at an older migration, holding a queued task, is brought to
// River's latest migration by Open, and the task then runs.
func TestRiverMigrationsOfAnOlderDatabase(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		old := setup(t, cfg, false)
		task, err := old.store.Enqueue(ctx, "alice", "Demo", &DemoArgs{Steps: 1})
		require.NoError(t, err)
		m := newRiverMigrator(t, old.store)
		_, err = m.Migrate(ctx, rivermigrate.DirectionDown, &rivermigrate.MigrateOpts{TargetVersion: riverV047Version})
		require.NoError(t, err)
		res, err := m.Validate(ctx, nil)
		require.NoError(t, err)
		require.False(t, res.OK, "River's later migrations are undone")

		b := setup(t, cfg, true) // Open migrates
		res, err = newRiverMigrator(t, b.store).Validate(ctx, nil)
		require.NoError(t, err)
		require.True(t, res.OK, "River's migrations are all applied: %v", res.Messages)
		waitState(t, b.store, "alice", task.ID, StateSucceeded, 20*time.Second)
	})
}
