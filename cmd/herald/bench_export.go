package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/export/demo"
)

type benchExportCmd struct {
	Quick    bool   `help:"Small counts, for seconds (what CI runs)."`
	Rows     int64  `help:"Rows of the large runs (default 10,000,000; 100,000 with --quick)."`
	XLSXRows int64  `name:"xlsx-rows" help:"Rows of the XLSX run (default 1,000,000; 20,000 with --quick)."`
	Postgres string `help:"PostgreSQL to export from; the demo table goes into the schema herald_bench_export." default:"postgres://postgres@127.0.0.1:5432/test?sslmode=disable" placeholder:"URL"`
	Reuse    bool   `help:"Keep the generated table between runs and reuse it when its row count matches."`
	Binary   string `help:"The herald binary each export runs in (its peak RSS is measured alone)." default:"bin/herald" type:"path"`
}

const benchSchema = "herald_bench_export"

// benchDatasets is the demo query with an id bound, so that runs of different sizes read the
// same rows.
const benchDatasets = `
datasets:
  - name: orders
    params: [{name: maxId, type: int, required: true}]
    sql: |
      SELECT id, customer_name, customer_email, country, status, amount, quantity, is_gift,
             created_at, shipped_on, note
      FROM orders WHERE id <= :maxId ORDER BY id
`

// Run generates the demo table in PostgreSQL, then times psql's \copy piped to gzip -1 (the
// baseline) and Herald's exports, each in a process of its own so that its peak RSS is its own.
func (b *benchExportCmd) Run(ctx context.Context) error {
	rows, xrows := b.Rows, b.XLSXRows
	if rows == 0 {
		rows = 10_000_000
		if b.Quick {
			rows = 100_000
		}
	}
	if xrows == 0 {
		xrows = min(rows, 1_000_000)
		if b.Quick {
			xrows = 20_000
		}
	}
	if _, err := os.Stat(b.Binary); err != nil {
		return fmt.Errorf("the herald binary (make build): %w", err)
	}
	for _, tool := range []string{"psql", "gzip"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("the baseline needs %s: %w", tool, err)
		}
	}
	dbURL, err := withSearchPath(b.Postgres, benchSchema)
	if err != nil {
		return err
	}
	if err := b.prepare(ctx, dbURL, rows); err != nil {
		return err
	}
	if !b.Reuse {
		defer dropBenchSchema(b.Postgres)
	}
	dir, err := os.MkdirTemp("", "herald-bench-export-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir) //nolint:errcheck // a temporary directory: a leftover is harmless
	datasets := filepath.Join(dir, "datasets.yaml")
	if err := os.WriteFile(datasets, []byte(benchDatasets), 0o600); err != nil {
		return err
	}

	fmt.Printf("herald bench export: PostgreSQL, demo orders (11 columns), %d rows (XLSX %d)\n\n", rows, xrows)
	const row = "%-44s %11s %9s %11s %9s %10s\n"
	fmt.Printf(row, "run", "rows", "seconds", "rows/s", "MB/s out", "peak RSS")
	query := "SELECT id, customer_name, customer_email, country, status, amount, quantity, is_gift, created_at, shipped_on, note FROM orders WHERE id <= " + strconv.FormatInt(rows, 10) + " ORDER BY id"
	base, err := b.baseline(ctx, query, filepath.Join(dir, "baseline.csv.gz"))
	if err != nil {
		return err
	}
	fmt.Printf(row, `baseline: psql \copy … csv | gzip -1`, strconv.FormatInt(rows, 10), secs(base.elapsed),
		rate(rows, base.elapsed), mbps(base.bytes, base.elapsed), "-")

	runs := []struct {
		label, format, comp string
		rows                int64
	}{
		{"herald CSV + gzip", "csv", "gzip", rows},
		{"herald CSV + gzip (1/10 of the rows)", "csv", "gzip", max(rows/10, 1)},
		{"herald JSONL + zstd", "jsonl", "zstd", rows},
		{"herald Parquet", "parquet", "none", rows},
		{"herald XLSX", "xlsx", "none", xrows},
	}
	for _, r := range runs {
		out := filepath.Join(dir, "out."+r.format)
		res, err := b.export(ctx, dbURL, datasets, r.format, r.comp, r.rows, out)
		if err != nil {
			return fmt.Errorf("%s: %w", r.label, err)
		}
		fmt.Printf(row, r.label, strconv.FormatInt(r.rows, 10), secs(res.elapsed), rate(r.rows, res.elapsed),
			mbps(res.bytes, res.elapsed), fmt.Sprintf("%.1f MiB", float64(res.maxRSS)/(1<<20)))
		_ = os.Remove(out) // keep the disk free for the next run
	}
	return nil
}

type runResult struct {
	elapsed time.Duration
	bytes   int64
	maxRSS  int64
}

func (b *benchExportCmd) prepare(ctx context.Context, dbURL string, rows int64) error {
	conn, err := pgx.Connect(ctx, b.Postgres)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	//nolint:errcheck // closing a session that only cleans up has nothing to report
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+benchSchema); err != nil {
		return err
	}
	if b.Reuse {
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+benchSchema+".orders").Scan(&n); err == nil && n == rows {
			fmt.Printf("reusing %s.orders (%d rows)\n", benchSchema, n)
			return nil
		}
	}
	began := time.Now()
	if err := demo.Generate(ctx, dbURL, rows, demo.Options{Seed: 1, Replace: true}); err != nil {
		return fmt.Errorf("generate demo rows: %w", err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE "+benchSchema+".orders"); err != nil {
		return err
	}
	fmt.Printf("generated %d demo rows in PostgreSQL in %s\n", rows, time.Since(began).Round(time.Millisecond))
	return nil
}

func (b *benchExportCmd) baseline(ctx context.Context, query, out string) (runResult, error) {
	script := `psql -X -q -v ON_ERROR_STOP=1 "$HERALD_BENCH_URL" -c "\copy (` + query + `) to stdout csv header" | gzip -1 > "$HERALD_BENCH_OUT"`
	cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), "HERALD_BENCH_URL="+b.Postgres, "HERALD_BENCH_OUT="+out, "PGOPTIONS=-c search_path="+benchSchema)
	cmd.Stderr = os.Stderr
	began := time.Now()
	if err := cmd.Run(); err != nil {
		return runResult{}, fmt.Errorf("baseline: %w", err)
	}
	el := time.Since(began)
	st, err := os.Stat(out)
	if err != nil {
		return runResult{}, err
	}
	_ = os.Remove(out) // measured; free the disk
	return runResult{elapsed: el, bytes: st.Size()}, nil
}

func (b *benchExportCmd) export(ctx context.Context, dbURL, datasets, format, comp string, rows int64, out string) (runResult, error) {
	cmd := exec.CommandContext(ctx, b.Binary, "export", "--database", dbURL, "--datasets", datasets,
		"--dataset", "orders", "--format", format, "--compression", comp, "--param", "maxId="+strconv.FormatInt(rows, 10),
		"--progress", "never", "-o", out)
	cmd.Stderr = nil
	began := time.Now()
	outb, err := cmd.CombinedOutput()
	el := time.Since(began)
	if err != nil {
		return runResult{}, fmt.Errorf("%w: %s", err, outb)
	}
	st, err := os.Stat(out)
	if err != nil {
		return runResult{}, err
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return runResult{}, errors.New("no resource usage for the export process")
	}
	return runResult{elapsed: el, bytes: st.Size(), maxRSS: ru.Maxrss * 1024}, nil
}

func withSearchPath(raw, schema string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func dropBenchSchema(pgURL string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return
	}
	//nolint:errcheck // closing a session that only cleans up has nothing to report
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+benchSchema+" CASCADE") // best-effort cleanup
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }

func rate(n int64, d time.Duration) string { return fmt.Sprintf("%.0f", float64(n)/d.Seconds()) }

func mbps(b int64, d time.Duration) string { return fmt.Sprintf("%.1f", float64(b)/1e6/d.Seconds()) }
