package storage

import (
	"errors"
	"fmt"

	"gocloud.dev/gcerrors"
)

var (
	// ErrNotFound is returned (wrapped) when an object does not exist.
	ErrNotFound = errors.New("storage: object not found")
	// ErrInvalidKey is returned (wrapped) for a key outside the safe form described at ValidateKey.
	ErrInvalidKey = errors.New("storage: invalid object key")
	// ErrSigningUnavailable is returned (wrapped) by SignedURL when the bucket's credentials
	// cannot sign links (an Azure SAS token given as the credential, for instance).
	ErrSigningUnavailable = errors.New("storage: signed links unavailable")
)

// wrap adds what was being done to err and maps the provider's not-found to ErrNotFound,
// keeping the original error in the chain for errors.As.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf(format, args...)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("%s: %w: %w", what, ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
