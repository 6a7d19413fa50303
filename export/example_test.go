package export_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver of the example's database

	"github.com/heraldhq/herald/export"
)

// A datasets file names the queries users may export and types their parameters; users send a
// dataset name and parameter values, never SQL.
const datasetsFile = `
datasets:
  - name: invoices
    title: Invoices
    formats: [csv, jsonl]
    params:
      - {name: minTotal, type: float, min: 0, title: Minimum total}
    sql: |
      SELECT id, customer, total FROM invoices
      WHERE (:minTotal IS NULL OR total >= :minTotal)
      ORDER BY id
`

// Load a datasets file, check a user's request against it, and run the export into a buffer.
// Herald runs the same pipeline as a task, into object storage (see Service).
func Example() {
	dir, err := os.MkdirTemp("", "export-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	dbPath := filepath.Join(dir, "app.db")
	if err := seed(dbPath); err != nil {
		log.Fatal(err)
	}
	file := filepath.Join(dir, "datasets.yaml")
	if err := os.WriteFile(file, []byte(datasetsFile), 0o600); err != nil {
		log.Fatal(err)
	}

	reg, err := export.Load(file)
	if err != nil {
		log.Fatal(err)
	}
	exp, err := export.New(export.Config{
		Registry:         reg,
		DefaultSourceURL: "sqlite://" + dbPath, // datasets without a source read this database
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer exp.Close()

	// A bad request says what is wrong, field by field, and runs nothing.
	_, err = exp.Prepare(export.Request{Dataset: "invoices", Format: "csv", Params: map[string]any{"minTotal": -5}}, nil)
	var rerr *export.RequestError
	if errors.As(err, &rerr) {
		for _, f := range rerr.Fields {
			fmt.Printf("%s: %s %s\n", rerr.Code, f.Param, f.Message)
		}
	}

	plan, err := exp.Prepare(export.Request{Dataset: "invoices", Format: "csv", Params: map[string]any{"minTotal": 100}}, nil)
	if err != nil {
		log.Fatal(err)
	}
	var out bytes.Buffer
	stats, err := exp.Run(context.Background(), plan, &out, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(strings.ReplaceAll(out.String(), "\r\n", "\n")) // CSV rows end in CRLF (RFC 4180)
	fmt.Println(stats.Rows, "rows for", plan.FileName(time.Date(2026, 5, 31, 18, 0, 0, 0, time.UTC)))
	// Output:
	// invalid_params: minTotal must be at least 0
	// id,customer,total
	// 1,Ada,250.5
	// 3,Linus,120
	// 2 rows for invoices-20260531-180000.csv
}

func seed(path string) error {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE invoices (id INTEGER PRIMARY KEY, customer TEXT, total REAL);
		INSERT INTO invoices VALUES (1, 'Ada', 250.5), (2, 'Grace', 80), (3, 'Linus', 120)`)
	return err
}
