package backplane_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/heraldhq/herald/backplane"
	"github.com/heraldhq/herald/backplane/backplanetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMemory(t *testing.T) {
	t.Parallel()
	backplanetest.Run(t, func(t *testing.T) func() backplane.Backplane {
		bus := backplane.NewBus()
		return func() backplane.Backplane { return bus.Node() }
	})
}
