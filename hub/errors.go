package hub

import (
	"errors"
	"fmt"
	"reflect"
	"unicode"
)

// Error is an error whose message is meant for the client, the equivalent of .NET's HubException:
// a method (or a filter) that returns one, or wraps one, fails the invocation with
//
//	An unexpected error occurred invoking 'Method' on the server. HubException: <Message>
//
// even when detailed errors are off; any other error's text reaches the client only with
// Options.EnableDetailedErrors.
type Error struct {
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with a formatted message.
func Errorf(format string, args ...any) error { return &Error{Message: fmt.Sprintf(format, args...)} }

// ClientError is an error the client returned instead of a result (client results).
type ClientError struct {
	Message string
}

func (e *ClientError) Error() string { return "hub: client error: " + e.Message }

// ClientStreamError is why a client ended its client-to-server stream: the error text it sent in
// the stream's Completion. A method sees it with Context.ClientStreamErr.
type ClientStreamError struct {
	Message string
}

func (e *ClientStreamError) Error() string { return e.Message }

// ErrorPhase says where an invocation failed.
type ErrorPhase int

const (
	// PhaseBinding: the arguments did not fit the method (count or types).
	PhaseBinding ErrorPhase = iota + 1
	// PhaseAuthorization: the caller lacks a role the method requires (see RequireRoles).
	PhaseAuthorization
	// PhaseInvocation: the method or a filter returned an error, or panicked.
	PhaseInvocation
)

// InvocationError describes a failed invocation, for Options.ErrorText.
type InvocationError struct {
	// Method is the method's name as the client sent it.
	Method string
	Phase  ErrorPhase
	// Err is what went wrong. For PhaseBinding it is a *BindingError.
	Err error
	// Detailed is Options.EnableDetailedErrors.
	Detailed bool
}

// BindingError is an invocation whose arguments do not fit the method: .NET's InvalidDataException.
type BindingError struct {
	Message string
}

func (e *BindingError) Error() string { return e.Message }

// errBindingTypes is the text .NET gives when arguments cannot be read as the method's types.
const errBindingTypes = "Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked."

// DefaultErrorText is the text ASP.NET Core SignalR sends for a failed invocation, to the letter
// (its ErrorMessageHelper): clients and their tests compare these texts.
//
//	binding:       Failed to invoke 'M' due to an error on the server.
//	authorization: Failed to invoke 'M' because user is unauthorized
//	invocation:    An unexpected error occurred invoking 'M' on the server.
//
// A *hub.Error, or any error when e.Detailed, appends " <Type>: <message>": HubException for a
// *hub.Error, InvalidDataException for a binding error, the error's Go type name when it is
// exported (PathError), Exception otherwise.
func DefaultErrorText(e *InvocationError) string {
	switch e.Phase {
	case PhaseBinding:
		return buildErrorMessage(fmt.Sprintf("Failed to invoke '%s' due to an error on the server.", e.Method), e.Err, e.Detailed)
	case PhaseAuthorization:
		return fmt.Sprintf("Failed to invoke '%s' because user is unauthorized", e.Method)
	default:
		return buildErrorMessage(fmt.Sprintf("An unexpected error occurred invoking '%s' on the server.", e.Method), e.Err, e.Detailed)
	}
}

// buildErrorMessage is .NET's ErrorMessageHelper.BuildErrorMessage.
func buildErrorMessage(message string, err error, detailed bool) string {
	var he *Error
	if errors.As(err, &he) {
		return message + " HubException: " + he.Message
	}
	var ce *ClientError
	if errors.As(err, &ce) {
		// .NET's client results throw a HubException with the client's error.
		return message + " HubException: " + ce.Message
	}
	if !detailed || err == nil {
		return message
	}
	return message + " " + exceptionType(err) + ": " + err.Error()
}

// exceptionType names err's kind as .NET would name its exception.
func exceptionType(err error) string {
	var be *BindingError
	if errors.As(err, &be) {
		return "InvalidDataException"
	}
	var cse *ClientStreamError
	if errors.As(err, &cse) {
		return "Exception" // .NET completes the stream's channel with a plain Exception
	}
	t := reflect.TypeOf(err)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if name := t.Name(); name != "" && unicode.IsUpper([]rune(name)[0]) {
		return name
	}
	return "Exception"
}
