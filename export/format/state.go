package format

import (
	"fmt"
	"io"
)

// state is what every encoder tracks the same way: the first error, which
// is sticky, and whether Close was called.
type state struct {
	err    error
	closed bool
}

// fail records err as the encoder's error and returns it.
func (s *state) fail(err error) error {
	s.err = err
	return err
}

// usable is Write's first check: ErrClosed after Close, else the sticky error.
func (s *state) usable() error {
	if s.closed {
		return ErrClosed
	}
	return s.err
}

// closing is Close's first step: ErrClosed on a second call; it marks the
// encoder closed and returns the sticky error, if any.
func (s *state) closing() error {
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	return s.err
}

// flushTo writes *buf to w and empties it; a write error becomes the sticky
// error, naming the format.
func (s *state) flushTo(w io.Writer, buf *[]byte, format string) error {
	if len(*buf) == 0 {
		return nil
	}
	_, err := w.Write(*buf)
	*buf = (*buf)[:0]
	if err != nil {
		return s.fail(fmt.Errorf("format: write %s: %w", format, err))
	}
	return nil
}
