package hub_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: the hub's sweeper, its connections' readers and
// writers, the test servers and the test clients all end in the tests' cleanups.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
