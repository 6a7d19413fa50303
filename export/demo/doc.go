// Package demo makes Herald's demo dataset: a table of shop orders, the
// same rows (for a given seed and row count) in SQLite, PostgreSQL or
// MySQL/MariaDB, large enough to show an export's progress and shaped to
// exercise encoders: NULLs, dates and timestamps, booleans, unicode, and
// notes full of commas, quotes and line breaks.
//
// Generate creates and fills the table, loading each database its fastest
// way, in parallel where the database allows it. The dataset's SQL, which
// reads the table, is defined with the other datasets, not here.
package demo
