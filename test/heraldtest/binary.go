package heraldtest

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Main runs the tests of a package that drives the real herald binary: it sets *bin to
// $HERALD_BIN (what make test builds once) or to a binary it builds into a temporary directory,
// runs the tests and exits. With -short it runs nothing and says why (make check).
func Main(m *testing.M, bin *string, why string) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("-short: leaves out " + why + ", which run the real binary (make check)")
		os.Exit(0)
	}
	if b := os.Getenv("HERALD_BIN"); b != "" {
		*bin = b
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "herald-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = filepath.Join(dir, "herald")
	build := exec.Command("go", "build", "-o", *bin, "github.com/heraldhq/herald/cmd/herald")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build herald:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir) // a temporary directory; the exit code is what matters
	os.Exit(code)
}
