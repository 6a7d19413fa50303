package jobs

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound is returned for a task or notification that does not exist
	// or belongs to another owner: the two are indistinguishable on purpose.
	ErrNotFound = errors.New("jobs: not found")

	// ErrFinished is returned when cancelling a task that already ended.
	ErrFinished = errors.New("jobs: task already finished")

	// ErrCancelled is the cause of a running task's context when its task
	// was cancelled.
	ErrCancelled = errors.New("jobs: task cancelled")

	// ErrInvalid is wrapped by errors about bad arguments (an empty owner,
	// a malformed cursor).
	ErrInvalid = errors.New("jobs: invalid argument")
)

// InvalidError is a bad argument, with a message for whoever sent it (an
// API client): a sentence that names the field as the client wrote it. It
// matches ErrInvalid.
type InvalidError struct {
	Message string
}

func (e *InvalidError) Error() string { return "jobs: invalid argument: " + e.Message }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return &InvalidError{Message: fmt.Sprintf(format, args...)}
}

// genericFailure is the text stored for a failure whose error carries no
// user-safe message.
const genericFailure = "The task failed."

// PermanentError marks an error that must not be retried. See Permanent.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err so that Run fails the task at once instead of letting
// River retry it. Errors not wrapped are retried with backoff until the
// kind's MaxAttempts.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err is or wraps a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// UserError pairs an internal error with a message safe to show the task's
// owner. See NewUserError.
type UserError struct {
	Message string
	Err     error
}

func (e *UserError) Error() string {
	if e.Err == nil {
		return e.Message
	}
	return e.Message + ": " + e.Err.Error()
}

func (e *UserError) Unwrap() error { return e.Err }

// NewUserError returns an error whose Message is stored in Task.Error when it
// ends the task; the internal err is only logged.
func NewUserError(message string, err error) error {
	return &UserError{Message: message, Err: err}
}

// userMessage is the text stored in Task.Error for err.
func userMessage(err error) string {
	var u *UserError
	if errors.As(err, &u) && u.Message != "" {
		return u.Message
	}
	return genericFailure
}
