package export_test

import "github.com/heraldhq/herald/export/data"

func dataStatement(sql string) data.Statement { return data.Statement{Parts: []string{sql}} }
