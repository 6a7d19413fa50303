package demo

import "testing"

// BenchmarkGenerator is the cost of making rows, without a database.
func BenchmarkGenerator(b *testing.B) {
	g := newGenerator(1, int64(b.N))
	var o order
	for i := range b.N {
		g.next(&o, int64(i+1))
	}
}
