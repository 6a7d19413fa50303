// Package manage is the Go SDK of Herald's management API: a backend that is not a hub (an order
// worker, a cron job, another service) sends to users, groups and connections, manages group
// membership, closes connections and asks who is connected, over HTTP, from a connection string.
//
// The API is the data-plane REST API of the hosted Azure SignalR Service (api-version
// 2022-06-01), served by `herald serve`; a connection string in that service's form
// ("Endpoint=https://…;AccessKey=…;Version=1.0;") works with either. `herald keys` prints
// Herald's.
//
//	c, err := manage.New(os.Getenv("HERALD_CONNECTION_STRING"))
//	hub := c.Hub("notifications")
//	err = hub.SendToUser(ctx, "alice", manage.Message{Target: "notification", Arguments: []any{n}})
//
// Every send carries an idempotency key (a random one unless SendOptions names one), so that a
// send retried after a timeout is delivered once; membership, close and existence calls are
// idempotent by nature. Failed calls are retried with backoff (Options.Retries); errors are
// *Error, with the HTTP status and the server's code.
//
// Negotiate builds what a backend's own negotiate endpoint returns to a serverless client: the
// client's URL on Herald and a token for it, signed with the access key.
package manage
