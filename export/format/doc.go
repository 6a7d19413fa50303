// Package format encodes export rows into files: CSV, JSON Lines, Parquet and
// XLSX, optionally wrapped in gzip or zstd.
//
// An export pipes rows through two stages, each streaming in constant memory:
//
//	comp, _ := format.NewCompressor(format.Gzip, blobWriter)  // or None
//	enc, _ := format.NewEncoder(format.CSV, comp, cols, format.Options{})
//	for rows.Next() { enc.Write(rows.Values()) }
//	enc.Close()  // trailers and flush; does not close comp
//	comp.Close() // ends the gzip stream; does not close blobWriter
//
// Allowed says which pairs make sense: Parquet and XLSX are compressed
// containers already and take None only. FileName and ContentType name the
// result for storage and download.
//
// # Types and NULL, per format
//
//	          CSV                JSON Lines          Parquet (all OPTIONAL)     XLSX
//	string    text, "" quoted    string              BYTE_ARRAY String          inline string
//	int       digits             number              INT64                      number (text beyond 15 digits)
//	float     shortest repr¹     number, NaN→null    DOUBLE                     number, NaN/Inf→no cell
//	bool      true/false         true/false          BOOLEAN                    boolean
//	date      YYYY-MM-DD         "YYYY-MM-DD"        INT32 Date                 serial + date style²
//	timestamp RFC 3339 UTC, ns   RFC 3339 UTC, ns    INT64 Timestamp(µs, UTC)   serial + datetime style²
//	bytes     base64             base64 string       BYTE_ARRAY                 base64 inline string
//	NULL      empty field        null                null (definition level 0)  no cell
//
// ¹ NaN, Infinity and -Infinity spelled out, as PostgreSQL and strconv read them.
// ² Outside 1900-03-01 … 9999-12-31 written as text; precision about 1 µs.
//
// Precision of timestamps: CSV and JSON Lines keep nanoseconds, Parquet keeps
// microseconds (truncated), XLSX keeps about a microsecond in a float serial
// number and Excel shows milliseconds.
//
// Empty string versus NULL: JSON Lines (null vs ""), Parquet (definition
// level) and XLSX (no cell vs an empty text cell) keep them apart. CSV has no
// NULL: this package writes NULL as an empty field and the empty string as
// "", which PostgreSQL COPY and DuckDB read back as NULL and as an empty
// string, but most readers (encoding/csv, Excel, pandas) see two empty
// strings.
//
// Text is always UTF-8: each invalid byte is replaced by U+FFFD. XLSX also
// drops the control characters XML cannot carry and cuts cells at Excel's
// 32,767-character limit.
package format
