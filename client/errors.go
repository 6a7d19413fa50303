package client

import (
	"errors"
	"fmt"
	"strconv"
)

var (
	// ErrNotConnected is returned by calls made while the client has no connection: before Start,
	// while it reconnects, after it closed.
	ErrNotConnected = errors.New("client: not connected")
	// ErrConnectionClosed fails the calls still waiting when their connection ends; the error also
	// wraps why it ended (ErrStopped, ErrServerTimeout, a *CloseError, a transport error).
	ErrConnectionClosed = errors.New("client: connection closed")
	// ErrStopped is why a connection ended when Stop ended it.
	ErrStopped = errors.New("client: stopped")
	// ErrServerTimeout is why a connection ended when nothing came from the server for
	// Options.ServerTimeout.
	ErrServerTimeout = errors.New("client: server timeout: nothing received from the server")
	// ErrAlreadyStarted is returned by Start when the client is not in the Disconnected state.
	ErrAlreadyStarted = errors.New("client: already started")
	// ErrStreamClosed is returned by Stream.Next after Stream.Close.
	ErrStreamClosed = errors.New("client: stream closed")
)

// HubError is the error a hub method returned: the server answered the invocation with an error
// Completion. Message is the server's text, e.g. "Unknown hub method 'X'".
type HubError struct {
	Message string
}

func (e *HubError) Error() string { return "client: hub error: " + e.Message }

// HTTPError is a negotiate request or WebSocket upgrade that the server answered with an
// unexpected HTTP status, e.g. 401 when the access token is missing or invalid.
type HTTPError struct {
	// Op is "negotiate" or "websocket".
	Op         string
	StatusCode int
	// Body is the start of the response body, for diagnostics.
	Body string
}

func (e *HTTPError) Error() string {
	msg := "client: " + e.Op + ": unexpected HTTP status " + strconv.Itoa(e.StatusCode)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// NegotiateError is a negotiate reply that carried an error ({"error": "..."}) instead of a
// connection.
type NegotiateError struct {
	Message string
}

func (e *NegotiateError) Error() string { return "client: negotiate: server error: " + e.Message }

// HandshakeError is the server's refusal of the hub handshake (e.g. an unsupported protocol).
type HandshakeError struct {
	Message string
}

func (e *HandshakeError) Error() string {
	return "client: handshake refused by the server: " + e.Message
}

// CloseError is why a connection ended when the server closed it with a Close message. The client
// reconnects (when it has a ReconnectPolicy) only if AllowReconnect is true.
type CloseError struct {
	// Message is the server's error text; empty for a close without error.
	Message        string
	AllowReconnect bool
}

func (e *CloseError) Error() string {
	if e.Message == "" {
		return "client: the server closed the connection"
	}
	return "client: the server closed the connection: " + e.Message
}

// connectionClosed is the error of a call that was waiting when its connection ended.
func connectionClosed(cause error) error {
	if cause == nil {
		return ErrConnectionClosed
	}
	if errors.Is(cause, ErrConnectionClosed) {
		return cause
	}
	return fmt.Errorf("%w: %w", ErrConnectionClosed, cause)
}
