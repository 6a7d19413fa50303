// Package demo makes Herald's demo dataset: a table of shop orders, the
// same rows (for a given seed and row count) in SQLite, PostgreSQL or
// MySQL/MariaDB, large enough to show an export's progress and shaped to
// exercise encoders: NULLs, dates and timestamps, booleans, unicode, and
// notes full of commas, quotes and line breaks.
//
// Generate creates and fills the table (orders.go makes the rows; one
// load_*.go file per database loads them its fastest way). The dataset's SQL,
// which reads the table, is defined with the other datasets, not here.
package demo
