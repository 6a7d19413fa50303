package storage

import (
	"mime"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAttachment(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"orders.csv.gz":    `attachment; filename="orders.csv.gz"`,
		"Bestellung ä.csv": `attachment; filename="Bestellung _.csv"; filename*=UTF-8''Bestellung%20%C3%A4.csv`,
		`a"b\c.csv`:        `attachment; filename="a_b_c.csv"; filename*=UTF-8''a%22b_c.csv`,
		"../../x.csv":      `attachment; filename=".._.._x.csv"`,
		"":                 `attachment; filename="download"`,
		"100%.csv":         `attachment; filename="100_.csv"; filename*=UTF-8''100%25.csv`,
		"line\nbreak.csv":  `attachment; filename="linebreak.csv"`,
		"注文.csv":           `attachment; filename="__.csv"; filename*=UTF-8''%E6%B3%A8%E6%96%87.csv`,
	}
	for in, want := range cases {
		got := attachment(in)
		require.Equal(t, want, got, in)
		// Whatever we produce must parse as a media type.
		disp, params, err := mime.ParseMediaType(got)
		require.NoError(t, err, got)
		require.Equal(t, "attachment", disp)
		require.NotEmpty(t, params["filename"])
	}
}
