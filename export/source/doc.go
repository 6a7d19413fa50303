// Package source runs dataset statements against the databases Herald
// exports from: SQLite (modernc.org/sqlite), PostgreSQL (pgx) and MySQL or
// MariaDB (go-sql-driver/mysql), behind one Source interface.
//
// Open takes a URL (see ParseURL) and returns a Source. Query streams a
// data.Statement's rows as data.Rows, never holding the result in memory,
// with every value converted to the Go type data.Type documents, whatever
// the database called it: each dialect's file (sqlite.go, postgres.go,
// mysql.go) documents its type mapping. Estimate asks the planner how many
// rows to expect, for progress reports. A PostgreSQL source is also a
// CSVCopier: it writes CSV through COPY, about twice as fast as scanning.
//
// Values are always bound, never spliced into SQL: each dialect renders the
// statement's placeholders ($1::type for PostgreSQL, ? elsewhere), and COPY,
// which takes no parameters, reads them from transaction-local settings.
//
// A Source is safe for concurrent use; each Rows holds one connection until
// it is closed, and cancelling the query's context stops the query on the
// server.
package source
