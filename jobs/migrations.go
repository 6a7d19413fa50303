package jobs

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// migrationFiles are Herald's own schema steps, one folder per dialect
// (migrations/sqlite, migrations/postgres), one file per step named
// NNN_what.sql. Both dialects have the same steps with the same numbers;
// step N is applied once, in order, and recorded in herald_migrations.
//
//go:embed migrations
var migrationFiles embed.FS

// migration is one schema step.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads a dialect's steps, in order, checking that they are
// numbered 1, 2, 3, … with no gap or repeat.
func loadMigrations(fsys fs.FS, dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(fsys, dir) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("migrations of %s: %w", dialect, err)
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s/%s: want a name like 001_what.sql", dir, e.Name())
		}
		if v != len(out)+1 {
			return nil, fmt.Errorf("migration %s/%s: number %d, want %d (no gaps, no repeats)", dir, e.Name(), v, len(out)+1)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	return out, nil
}

func mustMigrations(dialect string) []migration {
	m, err := loadMigrations(migrationFiles, dialect)
	if err != nil {
		panic(err) // the files are embedded: a bad one fails every test at once
	}
	return m
}
