package loadgen

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Result is one scenario's figures. The JSON shape is shared with the peers' drivers under bench/.
type Result struct {
	Server         string  `json:"server"`
	Scenario       string  `json:"scenario"`
	Conns          int     `json:"conns"`
	DurationS      float64 `json:"duration_s"`
	Sent           int64   `json:"sent"`
	Delivered      int64   `json:"delivered"`
	DeliveriesPerS float64 `json:"deliveries_per_s"`
	P50ms          float64 `json:"p50_ms"`
	P99ms          float64 `json:"p99_ms"`
	RSSBeforeKiB   int64   `json:"rss_before_kib"`
	RSSAfterKiB    int64   `json:"rss_after_kib"`
	BytesPerConn   float64 `json:"bytes_per_conn"`
	Errors         int64   `json:"errors"`
	Note           string  `json:"note,omitempty"`
}

// Key identifies the measurement a result makes, to line up servers side by side.
func (r Result) Key() string { return fmt.Sprintf("%s/%d/%s", r.Scenario, r.Conns, r.Note) }

// PrintTable writes results grouped by scenario, each server's figures beside the first server's
// (the baseline of the ratios).
func PrintTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	// tabwriter keeps what it is given until Flush, whose error is returned.
	_, _ = fmt.Fprintln(tw, "scenario\tconns\tserver\tfigure\tratio\tp50 ms\tp99 ms\terrors\t")
	base := map[string]Result{}
	for _, r := range results {
		if _, ok := base[r.Key()]; !ok {
			base[r.Key()] = r
		}
	}
	for _, r := range results {
		b := base[r.Key()]
		figure, ratio := r.figure(), ""
		if bv, rv := b.value(), r.value(); bv > 0 && rv > 0 && r.Server != b.Server {
			if r.Scenario == "idle" {
				ratio = fmt.Sprintf("%.2fx", rv/bv) // memory: peer / Herald, above 1 = Herald uses less
			} else {
				ratio = fmt.Sprintf("%.2fx", bv/rv) // throughput: Herald / peer, above 1 = Herald is faster
			}
		}
		note := ""
		if r.Note != "" {
			note = " (" + r.Note + ")"
		}
		_, _ = fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Scenario, r.Conns, r.Server, figure, ratio,
			ms(r.P50ms), ms(r.P99ms), r.Errors, note)
	}
	return tw.Flush()
}

func (r Result) value() float64 {
	if r.Scenario == "idle" {
		return r.BytesPerConn
	}
	return r.DeliveriesPerS
}

func (r Result) figure() string {
	switch r.Scenario {
	case "idle":
		return fmt.Sprintf("%.1f KiB/conn", r.BytesPerConn/1024)
	case "echo":
		return fmt.Sprintf("%.0f round trips/s", r.DeliveriesPerS)
	}
	return fmt.Sprintf("%.0f deliveries/s", r.DeliveriesPerS)
}

func ms(v float64) string {
	if v == 0 {
		return "-"
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}
