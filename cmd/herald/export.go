package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/heraldhq/herald/app"
	"github.com/heraldhq/herald/export"
	"github.com/heraldhq/herald/export/demo"
)

// exportFlags configure exports, shared by serve and worker.
type exportFlags struct {
	Datasets       string        `help:"YAML file of datasets (default: the built-in demo dataset orders)." type:"path" placeholder:"FILE"`
	Storage        string        `help:"Where export files go: file:///dir, azblob://container?…, s3://bucket?… (default: <data-dir>/files)." placeholder:"URL"`
	PublicURL      string        `name:"public-url" help:"Herald's public origin, which file download links start with (default: relative links)." placeholder:"URL"`
	SigningKey     string        `name:"signing-key" help:"Key (≥ 32 bytes) signing file download links; the same on every node (default: kept in <data-dir>/signing-key)." placeholder:"KEY"`
	LinkTTL        time.Duration `name:"link-ttl" help:"How long download links work; files are deleted after it." default:"${export_link_ttl}"`
	RetentionEvery time.Duration `name:"retention-every" help:"How often expired export files are deleted." default:"${export_retention_every}"`
	NoDemoData     bool          `name:"no-demo-data" help:"Do not generate the demo orders in a new embedded database."`
	DownloadAuth   string        `name:"download-auth" help:"Who may use a download link: link (anyone holding it until it expires) or owner (its task's owner, with their token in the Authorization header too; file storage only)." enum:"link,owner" default:"link"`
}

// demoSeedRows is how many demo orders an embedded database gets at its first start.
const demoSeedRows = 10_000

// seedDemo gives the embedded default something to export: at the first start on Herald's own
// SQLite database with the built-in datasets, it generates the demo orders. The table is made
// once; a table the user filled with `herald demo-data` is left alone. It runs once the task
// store has made the database.
func (f exportFlags) seedDemo(ctx context.Context, dataDir, database string, logger *slog.Logger) error {
	if database != "" || f.Datasets != "" || f.NoDemoData {
		return nil
	}
	url, err := app.SourceURL(dataDir, "")
	if err != nil {
		return err
	}
	err = demo.Generate(ctx, url, demoSeedRows, demo.Options{})
	switch {
	case err == nil:
		logger.Info(fmt.Sprintf("generated %d demo orders for the dataset orders (herald demo-data --rows N replaces them with N)", demoSeedRows))
	case !errors.Is(err, demo.ErrExists):
		return fmt.Errorf("demo data: %w", err)
	}
	return nil
}

func (f exportFlags) exportsConfig() app.ExportsConfig {
	return app.ExportsConfig{
		DatasetsFile: f.Datasets, StorageURL: f.Storage, PublicURL: f.PublicURL, SigningKey: f.SigningKey,
		LinkTTL: f.LinkTTL, RetentionEvery: f.RetentionEvery, DownloadAuth: f.DownloadAuth,
	}
}

type exportCmd struct {
	Dataset     string            `help:"Dataset to export." required:""`
	Format      string            `help:"csv, jsonl, parquet or xlsx (any letter case, as in the API)." default:"csv"`
	Compression string            `help:"gzip, zstd or none (any letter case; gz and zst too)." default:"none"`
	Param       map[string]string `help:"A dataset parameter, name=value (repeat for more)." placeholder:"NAME=VALUE"`
	Delimiter   string            `help:"CSV field separator." default:","`
	Output      string            `short:"o" help:"File to write ('-' for standard output)." required:"" placeholder:"FILE"`
	DataDir     string            `name:"data-dir" help:"Where Herald keeps its embedded state." default:"${jobs_data_dir}" type:"path"`
	Datasets    string            `help:"YAML file of datasets (default: the built-in demo dataset orders)." type:"path" placeholder:"FILE"`
	Database    string            `help:"Herald's database (the default source): empty for SQLite in the data dir, or postgres://…" placeholder:"URL"`
	Progress    string            `help:"Progress display: auto (a bar on a terminal), always, never." default:"auto" enum:"auto,always,never"`
}

// exportMemoryLimit is the soft memory limit of `herald export` when GOMEMLIMIT is not set: the
// Go collector otherwise lets the heap grow to twice what is live, which took a 10M-row Parquet
// export to 115 MiB of RSS; with the limit it stays under 90 MiB at the same speed.
const exportMemoryLimit = 64 << 20

// Run runs the export pipeline of `herald serve` without a server, into a local file.
func (c *exportCmd) Run(ctx context.Context, logger *slog.Logger) error {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(exportMemoryLimit)
	}
	reg, err := export.Load(c.Datasets)
	if err != nil {
		return err
	}
	src, err := app.SourceURL(c.DataDir, c.Database)
	if err != nil {
		return err
	}
	exp, err := export.New(export.Config{Registry: reg, DefaultSourceURL: src, Logger: logger})
	if err != nil {
		return err
	}
	defer exp.Close() //nolint:errcheck // the export's own error is the one that matters
	params := map[string]any{}
	for k, v := range c.Param {
		params[k] = v
	}
	// The default comma goes as "no delimiter": CSV's own default, and none for the formats that
	// have none (whatever the letter case of --format, which Prepare reads).
	delim := c.Delimiter
	if delim == "," {
		delim = ""
	}
	// The command line may use every dataset, whatever its role.
	plan, err := exp.Prepare(export.Request{Dataset: c.Dataset, Format: c.Format, Compression: c.Compression, Params: params, Delimiter: delim}, reg.Roles())
	if err != nil {
		return err
	}
	out, finish, err := openOutput(c.Output)
	if err != nil {
		return err
	}
	show := c.Progress == "always" || c.Progress == "auto" && isatty.IsTerminal(os.Stderr.Fd())
	bar := &progressLine{w: os.Stderr, on: show}
	stats, err := exp.Run(ctx, plan, out, bar.show)
	bar.done()
	if ferr := finish(err == nil); err == nil {
		err = ferr
	}
	if err != nil {
		var serr *export.SourceError
		if errors.As(err, &serr) {
			return fmt.Errorf("%s (%w)", serr.UserMessage(), serr.Unwrap())
		}
		return err
	}
	fmt.Fprintf(os.Stderr, "%d rows, %s written to %s\n", stats.Rows, export.FormatBytes(stats.Bytes), c.Output)
	return nil
}

// openOutput opens path for writing through a temporary file renamed into place on success,
// so a failed export leaves nothing behind; "-" is standard output.
func openOutput(path string) (io.Writer, func(ok bool) error, error) {
	if path == "-" {
		return os.Stdout, func(bool) error { return nil }, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".herald-export-*")
	if err != nil {
		return nil, nil, fmt.Errorf("create output: %w", err)
	}
	return f, func(ok bool) error {
		cerr := f.Close()
		if !ok || cerr != nil {
			_ = os.Remove(f.Name()) // a partial file is worth nothing
			return cerr
		}
		// CreateTemp makes the file 0600; the export is an ordinary output file.
		if err := os.Chmod(f.Name(), 0o644); err != nil {
			_ = os.Remove(f.Name()) // the chmod error is the one to report
			return err
		}
		return os.Rename(f.Name(), path)
	}, nil
}

// firstFrameAfter is how long into an export the progress line draws its first frame. The
// exporter reports its first 1,024 rows within milliseconds, before the compressor has written
// more than a header and over too short a time for a rate ("1024 rows  10 B  96584 rows/s"); an
// export that ends sooner draws no line, only its summary.
const firstFrameAfter = 500 * time.Millisecond

// progressLine draws rows, bytes written, rate and ETA on one terminal line.
type progressLine struct {
	w     io.Writer
	on    bool
	drawn bool
}

func (p *progressLine) show(pr export.Progress) {
	elapsed := time.Since(pr.StartedAt)
	if !p.on || elapsed < firstFrameAfter {
		return
	}
	rate := float64(pr.Rows) / elapsed.Seconds()
	line := fmt.Sprintf("%d rows", pr.Rows)
	// The encoders and compressors buffer (Parquet a whole row group): until the output has
	// bytes, there is no size worth showing.
	if pr.Bytes > 0 {
		line += "  " + export.FormatBytes(pr.Bytes) + " written"
	}
	line += fmt.Sprintf("  %.0f rows/s", rate)
	if pr.Estimate > pr.Rows && rate > 0 {
		pct := float64(pr.Rows) * 100 / float64(pr.Estimate)
		eta := time.Duration(float64(pr.Estimate-pr.Rows) / rate * float64(time.Second))
		line = fmt.Sprintf("%s  %s %4.1f%%  ~%d rows  ETA %s", bar(pct, 24), line, pct, pr.Estimate, eta.Round(time.Second))
	}
	_, _ = fmt.Fprintf(p.w, "\r\033[K%s", line) // a progress line on a terminal: nothing to do if it fails
	p.drawn = true
}

func (p *progressLine) done() {
	if p.drawn {
		_, _ = fmt.Fprintln(p.w) // see show
	}
}

func bar(pct float64, width int) string {
	n := int(pct / 100 * float64(width))
	n = min(max(n, 0), width)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

type demoDataCmd struct {
	Rows     int64  `help:"How many orders the table holds afterwards: an existing orders table is replaced, never added to." default:"100000"`
	Seed     int64  `help:"Seed of the generator: the same seed gives the same rows on every database." default:"1"`
	DataDir  string `name:"data-dir" help:"Where Herald keeps its embedded state." default:"${jobs_data_dir}" type:"path"`
	Database string `help:"Database to fill: empty for Herald's SQLite in the data dir, postgres://… or mysql://…" placeholder:"URL"`
	Replace  bool   `help:"Replace an existing orders table in --database (always done in Herald's own SQLite database)."`

	out io.Writer // the summary line; standard output when nil
}

// Run makes the demo dataset's orders table hold exactly d.Rows generated orders: a new table,
// or one that replaces the existing table, which is never added to (the same seed and count
// give the same rows everywhere, and a user asking for a million gets a million).
func (d *demoDataCmd) Run(ctx context.Context) error {
	url, err := app.SourceURL(d.DataDir, d.Database)
	if err != nil {
		return err
	}
	if d.Database == "" {
		if err := os.MkdirAll(d.DataDir, 0o750); err != nil {
			return err
		}
		if err := touch(d.DataDir + string(os.PathSeparator) + "herald.db"); err != nil {
			return err
		}
	}
	began := time.Now()
	show := isatty.IsTerminal(os.Stderr.Fd())
	replaced := int64(-1)
	err = demo.Generate(ctx, url, d.Rows, demo.Options{
		Seed: d.Seed, Replace: d.Replace || d.Database == "",
		Replaced: func(n int64) { replaced = n },
		Progress: func(n int64) {
			if show {
				fmt.Fprintf(os.Stderr, "\r\033[K%d of %d rows", n, d.Rows)
			}
		},
	})
	if show {
		fmt.Fprintln(os.Stderr)
	}
	if errors.Is(err, demo.ErrExists) {
		return fmt.Errorf("%w; add --replace to replace it with %d orders", err, d.Rows)
	}
	if err != nil {
		return err
	}
	el := time.Since(began)
	line := fmt.Sprintf("%d demo orders generated in %s (%.0f rows/s)", d.Rows, el.Round(time.Millisecond), float64(d.Rows)/el.Seconds())
	if replaced >= 0 {
		line += fmt.Sprintf(", replacing the %d rows the %s table had", replaced, demo.Table)
	}
	out := d.out
	if out == nil {
		out = os.Stdout
	}
	_, err = fmt.Fprintln(out, line)
	return err
}

func touch(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}
