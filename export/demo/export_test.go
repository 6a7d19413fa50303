package demo

// SetProgressEvery changes how many rows pass between two Progress calls; tests call it from
// TestMain, before any test runs.
func SetProgressEvery(n int64) { progressEvery = n }
