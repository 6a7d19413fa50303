package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/manage"
)

// Order is what the api publishes, the worker processes and sends back to the user's pages,
// and the audit records.
type Order struct {
	ID        string    `json:"id"`
	User      string    `json:"user"`
	Item      string    `json:"item"`
	Quantity  int       `json:"quantity"`
	Status    string    `json:"status"`           // accepted, then completed or failed
	Reason    string    `json:"reason,omitempty"` // why it failed
	CreatedAt time.Time `json:"createdAt"`
}

const (
	maxItemLength = 200
	maxQuantity   = 1000
)

type api struct {
	hub     *manage.Hub
	js      jetstream.JetStream
	streams streamFlags
}

func runAPI(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8090", "address to listen on")
	hubName := fs.String("hub", "orders", "Herald hub the clients connect to")
	var sf streamFlags
	sf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	hub, err := heraldHub(ctx, *hubName)
	if err != nil {
		return err
	}
	nc, js, err := sf.connect(ctx, "orders-api")
	if err != nil {
		return err
	}
	defer nc.Close()

	a := &api{hub: hub, js: js, streams: sf}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /negotiate", a.negotiate)
	mux.HandleFunc("POST /orders", a.placeOrder)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("listening on http://%s (hub %s, stream %s, subject %s)", ln.Addr(), hub.Name(), sf.stream, sf.subject)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

var userPattern = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// user is the demo's login: the user id from ?user= or the X-User header. A real application
// takes it from its own session (a cookie, a bearer token) and never from the request as is.
func user(w http.ResponseWriter, r *http.Request) (string, bool) {
	u := r.URL.Query().Get("user")
	if u == "" {
		u = r.Header.Get("X-User")
	}
	if u == "" {
		writeError(w, http.StatusUnauthorized, "who are you? pass ?user=alice or an X-User header (the demo's login)")
		return "", false
	}
	if !userPattern.MatchString(u) {
		writeError(w, http.StatusBadRequest, "a user id has 1 to 64 letters, digits or ._@-")
		return "", false
	}
	return u, true
}

// negotiate is the SignalR clients' negotiate endpoint (withUrl("http://api/?user=alice")): it
// adds the user to the group the worker notifies, then redirects the client to Herald's hub
// with a token for the user.
func (a *api) negotiate(w http.ResponseWriter, r *http.Request) {
	u, ok := user(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	// Forever: the membership holds for the connections the user opens from now on as well; a
	// repeated add is a no-op.
	if err := a.hub.AddUserToGroup(ctx, userGroup(u), u, manage.Forever); err != nil {
		log.Printf("negotiate %s: add to group: %v", u, err)
		writeError(w, http.StatusBadGateway, "Herald is not reachable, try again")
		return
	}
	neg, err := a.hub.Negotiate(u)
	if err != nil {
		log.Printf("negotiate %s: %v", u, err)
		writeError(w, http.StatusInternalServerError, "could not sign a token")
		return
	}
	writeJSON(w, http.StatusOK, neg)
}

// placeOrder validates an order, publishes it and answers 202 at once: the outcome reaches the
// user's pages later, as orderCompleted or orderFailed.
func (a *api) placeOrder(w http.ResponseWriter, r *http.Request) {
	u, ok := user(w, r)
	if !ok {
		return
	}
	var in struct {
		Item     string `json:"item"`
		Quantity int    `json:"quantity"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || dec.Decode(&struct{}{}) != io.EOF {
		writeError(w, http.StatusBadRequest, `the body must be one JSON object {"item": "…", "quantity": n}`)
		return
	}
	in.Item = strings.TrimSpace(in.Item)
	switch {
	case in.Item == "":
		writeError(w, http.StatusBadRequest, "item is required")
		return
	case utf8.RuneCountInString(in.Item) > maxItemLength:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("item has at most %d characters", maxItemLength))
		return
	case in.Quantity < 1 || in.Quantity > maxQuantity:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("quantity must be an integer from 1 to %d", maxQuantity))
		return
	}
	id, err := orderID(u, r.Header.Get("Idempotency-Key"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	o := Order{ID: id, User: u, Item: in.Item, Quantity: in.Quantity, Status: "accepted", CreatedAt: time.Now().UTC()}
	data, err := json.Marshal(o)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "could not encode the order")
		return
	}
	// Retried with the same Nats-Msg-Id: when a publish did reach the stream but its ack was lost,
	// the server drops the second copy (within the stream's Duplicates window, 2 min).
	var ack *jetstream.PubAck
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		ack, err = a.js.Publish(ctx, a.streams.subject, data, jetstream.WithMsgID(o.ID), jetstream.WithExpectStream(a.streams.stream))
		cancel()
		if err == nil || attempt == 3 || r.Context().Err() != nil {
			break
		}
		log.Printf("publish order %s (attempt %d): %v", o.ID, attempt, err)
		pause(r.Context(), time.Duration(attempt)*200*time.Millisecond)
	}
	if err != nil {
		log.Printf("publish order %s: %v", o.ID, err)
		writeError(w, http.StatusServiceUnavailable, "the order could not be queued, try again")
		return
	}
	dup := ""
	if ack.Duplicate {
		dup = ", a duplicate the stream dropped"
	}
	log.Printf("order %s accepted for %s: %d × %q (stream seq %d%s)", o.ID, u, o.Quantity, o.Item, ack.Sequence, dup)
	writeJSON(w, http.StatusAccepted, map[string]string{"id": o.ID, "status": "accepted"})
}

// orderID is a new random order id; with an Idempotency-Key, the same id for the same user and
// key, so that a client's retry within two minutes is one order.
func orderID(user, key string) (string, error) {
	if key == "" {
		var b [10]byte
		_, _ = rand.Read(b[:])
		return "ord_" + hex.EncodeToString(b[:]), nil
	}
	if len(key) > 128 {
		return "", errors.New("an Idempotency-Key has at most 128 bytes")
	}
	sum := sha256.Sum256([]byte(user + "\x00" + key))
	return "ord_" + hex.EncodeToString(sum[:10]), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
