// Package export turns a user's request ("the orders of January as gzipped CSV") into a file in
// object storage and a signed link to it, as a durable background task.
//
// # Datasets
//
// Users never send SQL. They name a dataset and give values for its typed parameters; a
// [Registry] holds the datasets, loaded from a YAML file (or the built-in demo dataset orders,
// with [Builtin]):
//
//	sources:
//	  warehouse: postgres://reader@db/warehouse
//	datasets:
//	  - name: orders
//	    source: warehouse            # omitted: Herald's own database
//	    role: finance                # omitted: every user
//	    formats: [csv, parquet]      # omitted: all four
//	    params:
//	      - {name: from, type: date}
//	      - {name: status, type: enum, values: [paid, shipped]}
//	    sql: SELECT * FROM orders WHERE (:from IS NULL OR created_at >= :from) ORDER BY id
//
// Parameters are string, int, float, bool, date, timestamp or enum, with optional bounds and
// defaults; values are checked against their types and bound, never spliced into the SQL.
//
// # Running an export
//
// An [Exporter] runs the pipeline: [Exporter.Prepare] checks a [Request] for a user's roles and
// returns a [Plan] (a bad request is a [*RequestError] with a code and, for parameters, a message
// per field); [Exporter.Run] streams the rows from the dataset's source through an encoder (CSV,
// JSON Lines, Parquet, XLSX; see export/format) and a compressor into any io.Writer, in constant
// memory, reporting progress:
//
//	exp, _ := export.New(export.Config{DefaultSourceURL: "sqlite:///var/lib/herald/herald.db"})
//	plan, _ := exp.Prepare(export.Request{Dataset: "orders", Format: "csv", Compression: "gzip"}, nil)
//	stats, _ := exp.Run(ctx, plan, file, func(p export.Progress) { log.Println(p.Rows, p.Bytes) })
//
// # Exports as tasks
//
// A [Service] runs exports as tasks of package jobs: [Service.Start] checks the request and
// enqueues the task (202 at once for the API); a worker runs the pipeline into the storage
// bucket, reports rows, bytes and an estimated end as task progress, and on success stores a
// signed, expiring download link in the task's [Result]. A failed or cancelled export leaves no
// partial file behind. The retention sweep ([Service.PeriodicJobs]) deletes files whose links have
// expired and marks their tasks so.
package export
