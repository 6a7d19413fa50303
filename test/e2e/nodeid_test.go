package e2e

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// --node-id names the node in the operators' counts (and trace) instead of a random id.
func TestNodeIDFlag(t *testing.T) {
	t.Parallel()
	s := start(t, "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--no-demo-data", "--node-id", "eu-west-1a")
	_, body := request(t, http.MethodPost, s.base+"/api/auth/dev-login", "", `{"user":"olga","roles":["admin"]}`)
	token, _ := body["token"].(string)
	require.NotEmpty(t, token, body)
	status, stats := request(t, http.MethodGet, s.base+"/api/admin/stats", token, "")
	require.Equal(t, http.StatusOK, status, stats)
	nodes, _ := stats["nodes"].([]any)
	require.Len(t, nodes, 1, stats)
	require.Equal(t, "eu-west-1a", nodes[0].(map[string]any)["id"])
}
