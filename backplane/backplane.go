package backplane

import (
	"context"
	"errors"
)

// Handler receives the payloads published on a channel. It runs on the backplane's delivery path,
// so it must not block for long. It may keep payload but must never modify it: the same slice may
// be handed to every subscriber.
type Handler func(channel string, payload []byte)

// Backplane is one node's view of the bus.
type Backplane interface {
	// Publish delivers payload to every node subscribed to channel, this node included.
	// It returns once the bus has accepted the payload, not when it has been delivered, with the
	// number of nodes subscribed to channel at that moment (0: nobody will receive it). The caller
	// must not modify payload afterwards.
	Publish(ctx context.Context, channel string, payload []byte) (receivers int, err error)
	// Subscribe makes this node receive what is published on channel. A node has at most one
	// handler per channel: subscribing again replaces it. Once Subscribe has returned, every payload
	// published afterwards on channel, by any node, is delivered.
	Subscribe(ctx context.Context, channel string, h Handler) error
	// Unsubscribe stops delivery on channel to this node. Unsubscribing an unknown channel is a no-op.
	Unsubscribe(ctx context.Context, channel string) error
	// Close unsubscribes everything and releases the node's resources.
	Close() error
}

// ErrClosed is returned by every call on a closed backplane.
var ErrClosed = errors.New("backplane: closed")
