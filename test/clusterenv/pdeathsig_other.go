//go:build !linux

package clusterenv

import "os/exec"

// setParentDeathSignal does nothing outside Linux, which alone has PR_SET_PDEATHSIG.
func setParentDeathSignal(*exec.Cmd) {}
