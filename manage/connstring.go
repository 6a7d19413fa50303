package manage

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// ConnectionString is a parsed connection string, in the hosted SignalR service's form:
// "Endpoint=https://host;AccessKey=…;Version=1.0;" with optional Port=… and ClientEndpoint=….
type ConnectionString struct {
	// Endpoint is the server's base URL (scheme, host, port; no trailing slash): where the
	// management API is called.
	Endpoint string
	// AccessKey signs the tokens (HS256 over its bytes).
	AccessKey string
	// Version is the connection string's version, "1.0" when absent.
	Version string
	// ClientEndpoint, when set, is the base URL clients reach the server at (behind a proxy);
	// default Endpoint.
	ClientEndpoint string
}

var versionPattern = regexp.MustCompile(`^1\.\d+(?:[\w\-.]+)?$`)

// ParseConnectionString parses s. Keys are case-insensitive; a value keeps any '=' after the
// first (base64 keys end in '=').
func ParseConnectionString(s string) (ConnectionString, error) {
	var cs ConnectionString
	seen := map[string]bool{}
	port := ""
	for part := range strings.SplitSeq(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if seen[k] {
			return cs, fmt.Errorf("manage: connection string: %s appears twice", k)
		}
		seen[k] = true
		switch k {
		case "endpoint":
			cs.Endpoint = v
		case "accesskey":
			cs.AccessKey = v
		case "version":
			cs.Version = v
		case "port":
			port = v
		case "clientendpoint":
			cs.ClientEndpoint = v
		}
	}
	if cs.Endpoint == "" {
		return cs, errors.New("manage: connection string: Endpoint is required")
	}
	if cs.AccessKey == "" {
		return cs, errors.New("manage: connection string: AccessKey is required")
	}
	if cs.Version == "" {
		cs.Version = "1.0"
	}
	if !versionPattern.MatchString(cs.Version) {
		return cs, fmt.Errorf("manage: connection string: Version %s is not supported", cs.Version)
	}
	endpoint, err := baseURL("Endpoint", cs.Endpoint)
	if err != nil {
		return cs, err
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return cs, fmt.Errorf("manage: connection string: Port %q is not a port number", port)
		}
		endpoint.Host = endpoint.Hostname() + ":" + port
	}
	cs.Endpoint = endpoint.String()
	if cs.ClientEndpoint != "" {
		ce, err := baseURL("ClientEndpoint", cs.ClientEndpoint)
		if err != nil {
			return cs, err
		}
		cs.ClientEndpoint = ce.String()
	}
	return cs, nil
}

func baseURL(name, v string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(v, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("manage: connection string: %s %q is not an absolute http or https URL", name, v)
	}
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// String formats the connection string back.
func (cs ConnectionString) String() string {
	s := "Endpoint=" + cs.Endpoint + ";AccessKey=" + cs.AccessKey + ";Version=" + cs.Version + ";"
	if cs.ClientEndpoint != "" {
		s += "ClientEndpoint=" + cs.ClientEndpoint + ";"
	}
	return s
}
