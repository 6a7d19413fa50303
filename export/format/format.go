package format

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/heraldhq/herald/export/data"
)

// Format is an output file format.
type Format string

// The supported formats.
const (
	CSV     Format = "csv"     // RFC 4180, header row, CRLF line ends
	JSONL   Format = "jsonl"   // JSON Lines: one object per row
	Parquet Format = "parquet" // Apache Parquet, zstd-compressed pages
	XLSX    Format = "xlsx"    // Office Open XML workbook, streamed
)

// Formats lists every supported format, in the order the API documents them.
var Formats = []Format{CSV, JSONL, Parquet, XLSX}

// Compression is the outer compression applied to a whole file.
type Compression string

// The supported compressions.
const (
	Gzip Compression = "gzip" // parallel gzip (pgzip), readable by any gunzip
	Zstd Compression = "zstd" // Zstandard, one frame
	None Compression = "none" // the encoder's bytes as they are
)

// Compressions lists every supported compression.
var Compressions = []Compression{None, Gzip, Zstd}

// Errors callers may test for with errors.Is.
var (
	// ErrClosed is returned by Encoder.Write and Close after Close.
	ErrClosed = errors.New("format: encoder closed")
	// ErrNotAllowed is returned by Allowed for a format that is already a
	// compressed container (Parquet, XLSX) paired with an outer compression.
	ErrNotAllowed = errors.New("format: compression not allowed for this format")
	// ErrUnknown wraps an unknown format or compression name.
	ErrUnknown = errors.New("format: unknown")
)

// ParseFormat reads a format name, case-insensitively.
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(strings.TrimSpace(s)))
	for _, k := range Formats {
		if f == k {
			return f, nil
		}
	}
	return "", fmt.Errorf("%w format %q (want csv, jsonl, parquet or xlsx)", ErrUnknown, s)
}

// ParseCompression reads a compression name, case-insensitively. The empty
// string means None; "gz" and "zst" are accepted as aliases.
func ParseCompression(s string) (Compression, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none":
		return None, nil
	case "gzip", "gz":
		return Gzip, nil
	case "zstd", "zst":
		return Zstd, nil
	}
	return "", fmt.Errorf("%w compression %q (want none, gzip or zstd)", ErrUnknown, s)
}

// Allowed reports whether c may wrap f. Parquet and XLSX compress their own
// content (Parquet per page, XLSX as a zip archive), so a second layer would
// gain a few percent at best, cost CPU, and hide the file from readers that
// seek (Parquet readers start at the footer). They take None only.
func Allowed(f Format, c Compression) error {
	if _, err := ParseFormat(string(f)); err != nil {
		return err
	}
	if _, err := ParseCompression(string(c)); err != nil || c == "" {
		return fmt.Errorf("%w compression %q (want none, gzip or zstd)", ErrUnknown, c)
	}
	if (f == Parquet || f == XLSX) && c != None {
		return fmt.Errorf("%w: %s is already compressed, use compression %q", ErrNotAllowed, f, None)
	}
	return nil
}

// Extension is the file name extension of f without compression (".csv").
func (f Format) Extension() string { return "." + string(f) }

// Extension is the file name suffix c adds (".gz", ".zst", or "").
func (c Compression) Extension() string {
	switch c {
	case Gzip:
		return ".gz"
	case Zstd:
		return ".zst"
	}
	return ""
}

// FileName builds a download name such as "orders-20261122-153000.csv.gz" from
// a base name and the export's time (rendered in UTC, second precision).
func FileName(base string, t time.Time, f Format, c Compression) string {
	return base + t.UTC().Format("-20060102-150405") + f.Extension() + c.Extension()
}

// ContentType is the MIME type of a file of format f under compression c. A
// compressed file is announced as the compressed type, not with a
// Content-Encoding, so that browsers save the bytes rather than inflate them.
func ContentType(f Format, c Compression) string {
	switch c {
	case Gzip:
		return "application/gzip"
	case Zstd:
		return "application/zstd"
	}
	switch f {
	case CSV:
		return "text/csv; charset=utf-8"
	case JSONL:
		return "application/x-ndjson"
	case Parquet:
		return "application/vnd.apache.parquet"
	case XLSX:
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	return "application/octet-stream"
}

// MaxSheetRows is the number of data rows an XLSX sheet holds by default:
// Excel's limit of 1,048,576 rows, less the header row.
const MaxSheetRows = 1_048_575

// Options tunes an Encoder. The zero value is valid: every field documents its
// default, which WithDefaults fills in.
type Options struct {
	// Delimiter separates CSV fields. Default ','. It may not be '"', CR, LF
	// or an invalid rune. Ignored by other formats.
	Delimiter rune
	// SheetRows is the number of data rows per XLSX sheet before a new sheet
	// is started. Default and maximum MaxSheetRows; tests set it small.
	SheetRows int
	// ParquetRowGroupRows bounds the rows of one Parquet row group, whose
	// compressed pages the writer holds in memory until the group is
	// complete. Default 262,144: about 6 MB of pages for the ten-column
	// orders row, and row groups large enough for readers to scan well.
	ParquetRowGroupRows int
}

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if o.Delimiter == 0 {
		o.Delimiter = ','
	}
	if o.SheetRows == 0 {
		o.SheetRows = MaxSheetRows
	}
	if o.ParquetRowGroupRows == 0 {
		o.ParquetRowGroupRows = 256 * 1024
	}
	return o
}

// Validate checks options as NewEncoder will, so that a request can be
// refused before any work starts.
func (o Options) Validate() error { return o.WithDefaults().validate() }

func (o Options) validate() error {
	switch d := o.Delimiter; {
	case d == '"' || d == '\r' || d == '\n':
		return fmt.Errorf("format: CSV delimiter %q is not allowed", d)
	case d < 0 || d > 0x10FFFF || (d >= 0xD800 && d <= 0xDFFF) || d == 0xFFFD:
		return fmt.Errorf("format: CSV delimiter %U is not a valid character", d)
	}
	if o.SheetRows < 1 || o.SheetRows > MaxSheetRows {
		return fmt.Errorf("format: SheetRows %d out of range 1..%d", o.SheetRows, MaxSheetRows)
	}
	if o.ParquetRowGroupRows < 1 {
		return fmt.Errorf("format: ParquetRowGroupRows %d must be positive", o.ParquetRowGroupRows)
	}
	return nil
}

// Encoder turns rows into one file of some format.
//
// It takes no context: it only writes to its io.Writer, and the loop that
// feeds it (which reads from the database) is where cancellation is checked.
// An Encoder is not safe for concurrent use.
type Encoder interface {
	// Write encodes one row: one value per column, of the Go type listed at
	// data.Type for the column's type, or nil for NULL. Write does not keep
	// values (nor []byte inside them) after it returns. The first error
	// (a bad value, or one from the underlying writer) is sticky: every later
	// call returns it.
	Write(values []any) error
	// Close writes what the format needs at the end (Parquet footer, XLSX
	// workbook parts) and flushes buffers into the underlying writer. It does
	// not close that writer. Calls after the first return ErrClosed.
	Close() error
}

// NewEncoder returns an Encoder of format f that writes to w rows of the
// given columns. Nothing is written before the first Write or Close, except
// by Parquet which writes its 4-byte magic at once.
func NewEncoder(f Format, w io.Writer, cols []data.Column, opts Options) (Encoder, error) {
	opts = opts.WithDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, errors.New("format: no columns")
	}
	for i, c := range cols {
		if c.Type < data.TypeString || c.Type > data.TypeBytes {
			return nil, fmt.Errorf("format: column %d %q: unsupported type %s", i, c.Name, c.Type)
		}
	}
	switch f {
	case CSV:
		return newCSVEncoder(w, cols, opts), nil
	case JSONL:
		return newJSONLEncoder(w, cols), nil
	case Parquet:
		return newParquetEncoder(w, cols, opts)
	case XLSX:
		return newXLSXEncoder(w, cols, opts)
	}
	return nil, fmt.Errorf("%w format %q (want csv, jsonl, parquet or xlsx)", ErrUnknown, f)
}
