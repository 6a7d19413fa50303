package hub

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerHungUp waits up to timeoutMs for the peer of nc to shut its side (or the socket to fail),
// without reading: POLLRDHUP says so while unread data stays where it is.
func peerHungUp(nc net.Conn, timeoutMs int) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	hung := false
	_ = raw.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		n, err := unix.Poll(fds, timeoutMs)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		hung = n > 0 && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
	})
	return hung
}
