// Package data holds the types every part of an export shares: a column's
// name and type, the streaming Rows a source yields and an encoder consumes,
// and the Statement (SQL with typed, bound arguments) a dataset hands a
// source. It has no dependencies so that sources, encoders and the export
// pipeline can all import it.
package data
