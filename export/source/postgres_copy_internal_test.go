package source

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCSVCounter feeds CSV in every split and checks the count, whatever
// quotes and line breaks the fields hold.
func TestCSVCounter(t *testing.T) {
	t.Parallel()
	doc := "a,b\n" +
		"1,plain\n" +
		"2,\"with \"\"quotes\"\" and\nnewline\"\n" +
		"3,\"crlf\r\ninside\"\n" +
		"4,\"\"\n" +
		"5,\n"
	recs, err := csv.NewReader(bytes.NewBufferString(doc)).ReadAll()
	require.NoError(t, err)
	for split := 1; split <= len(doc); split++ {
		var out bytes.Buffer
		var reported []int64
		c := &csvCounter{w: &out, onRows: func(n int64) { reported = append(reported, n) }}
		for i := 0; i < len(doc); i += split {
			_, err := c.Write([]byte(doc[i:min(i+split, len(doc))]))
			require.NoError(t, err)
		}
		require.Equal(t, int64(len(recs)-1), c.rows(), "split %d", split)
		require.Equal(t, doc, out.String())
		require.Empty(t, reported, "fewer rows than copyReportEvery")
	}
}

func TestCSVCounterReports(t *testing.T) {
	t.Parallel()
	var reported []int64
	c := &csvCounter{w: &bytes.Buffer{}, onRows: func(n int64) { reported = append(reported, n) }}
	_, _ = c.Write([]byte("h\n"))
	for range 3*copyReportEvery + 5 {
		_, _ = c.Write([]byte("x\n"))
	}
	require.Equal(t, []int64{copyReportEvery - 1, 2*copyReportEvery - 1, 3*copyReportEvery - 1}, reported)
}
