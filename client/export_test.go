package client

// Views of the client's internals for the black-box tests in package client_test: things a test
// cannot observe from outside without waiting an arbitrary time.

// PendingCount is the number of calls of c's current connection that wait for the server.
func PendingCount(c *Client) int {
	cn := c.current.Load()
	if cn == nil {
		return 0
	}
	return cn.pendingCount()
}

// HoldWriter makes c's current connection behave as if a write were in progress, so that calls
// queue in the outgoing buffer; release lets the writer go on.
func HoldWriter(c *Client) (release func()) {
	cn := c.current.Load()
	cn.wmu.Lock()
	held := !cn.flushing
	cn.flushing = true
	cn.wmu.Unlock()
	return func() {
		if held {
			cn.s.g.Go(func() { cn.flush(false) })
		}
	}
}
