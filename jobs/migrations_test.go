package jobs

import (
	"testing"
	"testing/fstest"

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
