package rest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/internal/httpx"
)

// payload is a send's body, the hosted service's PayloadMessage.
type payload struct {
	Target    string          `json:"target"`
	Arguments json.RawMessage `json:"arguments"`
}

var binaryTypes = map[string]bool{"application/x-msgpack": true, "application/msgpack": true, "application/octet-stream": true}

// readMessage reads and checks a send's body.
func (s *Server) readMessage(r *http.Request) (string, []any, error) {
	// The hosted service also takes MessagePack bodies; Herald takes JSON, whatever the type says
	// (curl -d sends a form type), and refuses only the binary types.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && binaryTypes[mt] {
		return "", nil, &apiError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", msCode: "Error.Request.Invalid",
			message: "The body must be JSON (" + mt + " bodies are not supported)."}
	}
	body := http.MaxBytesReader(nil, r.Body, s.MaxBodyBytes)
	data, err := io.ReadAll(body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return "", nil, &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large", msCode: "Error.Request.TooLarge",
				message: "The body is larger than " + strconv.FormatInt(s.MaxBodyBytes, 10) + " bytes."}
		}
		return "", nil, badRequest("The body could not be read.")
	}
	var msg payload
	if err := json.Unmarshal(data, &msg); err != nil {
		return "", nil, badRequest("%s", httpx.DescribeJSONError(err))
	}
	if msg.Target == "" || len(msg.Target) > maxTargetLen {
		return "", nil, badRequest(`"target" (the client method to invoke) must have 1 to %d bytes.`, maxTargetLen)
	}
	var args []any
	if len(msg.Arguments) > 0 && string(msg.Arguments) != "null" {
		if args, err = hub.DecodeArguments(msg.Arguments); err != nil {
			if errors.Is(err, hub.ErrNumberRange) {
				return "", nil, badRequest(`"arguments" holds a number out of range (it must fit a float64).`)
			}
			return "", nil, badRequest(`"arguments" must be a JSON array.`)
		}
	}
	return msg.Target, args, nil
}

// send sends a message read from the body through proxy, once per Idempotency-Key.
func (s *Server) send(r *http.Request, h *hub.Hub, p params, proxy func() hub.ClientProxy) (int, error) {
	target, args, err := s.readMessage(r)
	if err != nil {
		return 0, err
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxKeyLength {
		return 0, badRequest("The Idempotency-Key must have at most %d bytes.", maxKeyLength)
	}
	claim := ""
	if key != "" {
		// Claimed short first: a node that dies before it has sent leaves a claim that expires
		// soon, so the backend's retry sends; once sent, the claim is kept for IdempotencyTTL.
		claim = h.Name() + ":idem:" + key
		fresh, err := s.Store.Claim(r.Context(), claim, pendingTTL)
		if err != nil {
			return 0, err
		}
		if !fresh {
			p.header.Set("Idempotent-Replayed", "true")
			return http.StatusAccepted, nil
		}
	}
	ctx, nodes := hub.CountNodes(r.Context())
	err = proxy().Send(ctx, target, args...)
	p.header.Set("Herald-Receiving-Nodes", strconv.Itoa(nodes()))
	if err != nil {
		if claim != "" {
			// Not sent: a retry with the same key must send it.
			_ = s.Store.Release(context.WithoutCancel(r.Context()), claim)
		}
		return 0, err
	}
	if claim != "" {
		if err := s.Store.Extend(context.WithoutCancel(r.Context()), claim, IdempotencyTTL); err != nil {
			// Sent; only a retry after pendingTTL would send it again.
			s.Log.Warn("management API: keep an idempotency key", "err", err)
		}
	}
	return http.StatusAccepted, nil
}

func excluded(p params) []string { return p.query["excluded"] }

func sendAll(s *Server, r *http.Request, h *hub.Hub, p params) (int, error) {
	return s.send(r, h, p, func() hub.ClientProxy { return h.Clients().AllExcept(excluded(p)...) })
}

func sendUser(s *Server, r *http.Request, h *hub.Hub, p params) (int, error) {
	return s.send(r, h, p, func() hub.ClientProxy { return h.Clients().User(p.user) })
}

func sendGroup(s *Server, r *http.Request, h *hub.Hub, p params) (int, error) {
	return s.send(r, h, p, func() hub.ClientProxy { return h.Clients().GroupExcept(p.group, excluded(p)...) })
}

func sendConnection(s *Server, r *http.Request, h *hub.Hub, p params) (int, error) {
	return s.send(r, h, p, func() hub.ClientProxy { return h.Clients().Client(p.conn) })
}

func reason(p params) string { return p.query.Get("reason") }

func closeAll(_ *Server, r *http.Request, h *hub.Hub, p params) (int, error) {
	return 0, h.Clients().AllExcept(excluded(p)...).Close(r.Context(), reason(p))
}

func closeUser(_ *Server, r *http.Request, h *hub.Hub, p params) (int, error) {
	return 0, h.Clients().UserExcept(p.user, excluded(p)...).Close(r.Context(), reason(p))
}

func closeGroup(_ *Server, r *http.Request, h *hub.Hub, p params) (int, error) {
	return 0, h.Clients().GroupExcept(p.group, excluded(p)...).Close(r.Context(), reason(p))
}

func closeConnection(_ *Server, r *http.Request, h *hub.Hub, p params) (int, error) {
	ok, err := h.Clients().ConnectionExists(r.Context(), p.conn)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, notExisted("Warning.Connection.NotExisted", "No connection "+p.conn+" on this hub.")
	}
	return 0, h.Clients().Client(p.conn).Close(r.Context(), reason(p))
}

// exists answers a check: 200, or 404 with the hosted service's code.
func exists(ok bool, err error, msCode, what string) (int, error) {
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, notExisted(msCode, what)
	}
	return 0, nil
}

func connectionExists(_ *Server, r *http.Request, h *hub.Hub, p params) (int, error) {
	ok, err := h.Clients().ConnectionExists(r.Context(), p.conn)
	return exists(ok, err, "Warning.Connection.NotExisted", "No connection "+p.conn+" on this hub.")
}

func userExists(_ *Server, r *http.Request, h *hub.Hub, p params) (int, error) {
	ok, err := h.Clients().UserExists(r.Context(), p.user)
	return exists(ok, err, "Warning.User.NotExisted", "The user has no connection to this hub.")
}

func groupExists(_ *Server, r *http.Request, h *hub.Hub, p params) (int, error) {
	ok, err := h.Groups().Exists(r.Context(), p.group)
	return exists(ok, err, "Warning.Group.NotExisted", "The group has no connection.")
}

func userInGroup(_ *Server, r *http.Request, h *hub.Hub, p params) (int, error) {
	ok, err := h.Groups().UserInGroup(r.Context(), p.user, p.group)
	return exists(ok, err, "Info.User.NotInGroup", "The user is not in the group.")
}

// connectionGone turns "no node has the connection" into the hosted service's 404.
func connectionGone(err error, conn string) error {
	if errors.Is(err, hub.ErrConnectionClosed) {
		return notExisted("Error.Connection.NotExisted", "No connection "+conn+" on this hub.")
	}
	return err
}

func addConnection(_ *Server, r *http.Request, h *hub.Hub, p params) (int, error) {
	return 0, connectionGone(h.Groups().Add(r.Context(), p.conn, p.group), p.conn)
}

func removeConnection(_ *Server, r *http.Request, h *hub.Hub, p params) (int, error) {
	return 0, connectionGone(h.Groups().Remove(r.Context(), p.conn, p.group), p.conn)
}

func removeConnectionFromAll(_ *Server, r *http.Request, h *hub.Hub, p params) (int, error) {
	return 0, connectionGone(h.Groups().RemoveFromAll(r.Context(), p.conn), p.conn)
}

func addUserToGroup(_ *Server, r *http.Request, h *hub.Hub, p params) (int, error) {
	ttl := hub.Forever
	if v := p.query.Get("ttl"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > math.MaxInt32 {
			return 0, badRequest("ttl must be a whole number of seconds from 0 to %d.", math.MaxInt32)
		}
		ttl = time.Duration(n) * time.Second
	}
	return 0, h.Groups().AddUser(r.Context(), p.user, p.group, ttl)
}

func removeUserFromGroup(_ *Server, r *http.Request, h *hub.Hub, p params) (int, error) {
	return 0, h.Groups().RemoveUser(r.Context(), p.user, p.group)
}

func removeUserFromAll(_ *Server, r *http.Request, h *hub.Hub, p params) (int, error) {
	return 0, h.Groups().RemoveUserFromAll(r.Context(), p.user)
}
