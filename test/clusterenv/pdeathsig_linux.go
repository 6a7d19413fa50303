package clusterenv

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal has the kernel SIGKILL the child when the thread that started it ends, so
// that a test binary or runner that crashes leaves no server behind. (Go ends a thread only when a
// goroutine locked to it with runtime.LockOSThread returns without unlocking; nothing here does.)
func setParentDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
