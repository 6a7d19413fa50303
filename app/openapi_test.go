package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/app"
	"github.com/heraldhq/herald/test/heraldtest"
)

// The OpenAPI document at /api/openapi.json must be a valid OpenAPI 3.1 document whose operations
// are exactly the routes the server registers, each answered by its own handler.
func TestOpenAPI(t *testing.T) {
	t.Parallel()
	// The default configuration (dev mode, no conformance hub) registers every REST route: exports
	// are always on (the built-in demo dataset and file storage in the data dir), and so is the
	// management API (with a generated access key). No workers: the tasks the test starts need not
	// run, and the server stops at once.
	cfg := app.Config{DataDir: t.TempDir(), NoWorkers: true}
	srv, base := heraldtest.Serve(t, cfg)

	resp, err := http.Get(base + "/api/openapi.json")
	require.NoError(t, err)
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))

	t.Run("valid", func(t *testing.T) {
		if problems := checkOpenAPI(raw); len(problems) > 0 {
			t.Fatalf("the OpenAPI document is not valid:\n  %s", strings.Join(problems, "\n  "))
		}
		var doc map[string]any
		require.NoError(t, json.Unmarshal(raw, &doc))
		require.Equal(t, "3.1.0", doc["openapi"])
		require.Equal(t, "Herald", asMap(doc["info"])["title"])
		var tags []string
		for _, tg := range asSlice(doc["tags"]) {
			tags = append(tags, fmt.Sprint(asMap(tg)["name"]))
		}
		require.ElementsMatch(t, []string{"tasks", "exports", "notifications", "auth", "health",
			"management-2022-06-01", "management-v1", "downloads", "meta", "admin"}, tags)
	})

	t.Run("invalid documents are refused", func(t *testing.T) {
		// Each mutation breaks the document in one way; the check must say so, and the ones the
		// OpenAPI schema or libopenapi catch must be caught by them.
		mutations := []struct {
			name, want string
			mutate     func(doc map[string]any)
		}{
			{"not JSON", "not JSON", nil},
			{"no info", "OpenAPI 3.1 schema", func(doc map[string]any) { delete(doc, "info") }},
			{"an unknown top-level field", "OpenAPI 3.1 schema", func(doc map[string]any) { doc["pathz"] = map[string]any{} }},
			{"responses not an object", "OpenAPI 3.1 schema", func(doc map[string]any) {
				operation(doc, "/api/tasks", "get")["responses"] = []any{"200"}
			}},
			{"a parameter in body (OpenAPI 2)", "OpenAPI 3.1 schema", func(doc map[string]any) {
				op := operation(doc, "/api/tasks", "get")
				op["parameters"] = append(asSlice(op["parameters"]), map[string]any{"name": "x", "in": "body", "schema": map[string]any{}})
			}},
			{"a path parameter that is not required", "OpenAPI 3.1 schema", func(doc map[string]any) {
				asMap(asMap(asMap(doc["components"])["parameters"])["hub"])["required"] = false
			}},
			{"a dangling $ref", "libopenapi model", func(doc map[string]any) {
				asMap(operation(doc, "/api/tasks/{id}", "get")["responses"])["200"] = map[string]any{"$ref": "#/components/responses/Nope"}
			}},
			{"an undeclared path parameter", "path parameter id is not declared", func(doc map[string]any) {
				delete(operation(doc, "/api/tasks/{id}", "get"), "parameters")
			}},
			{"no operationId", "no operationId", func(doc map[string]any) { delete(operation(doc, "/healthz", "get"), "operationId") }},
			{"an undeclared security scheme", "security scheme nope is not declared", func(doc map[string]any) {
				operation(doc, "/api/tasks", "get")["security"] = []any{map[string]any{"nope": []any{}}}
			}},
		}
		for _, m := range mutations {
			broken := append(bytes.Clone(raw[:len(raw)/2]), '}')
			if m.mutate != nil {
				var doc map[string]any
				require.NoError(t, json.Unmarshal(raw, &doc))
				m.mutate(doc)
				var err error
				broken, err = json.Marshal(doc)
				require.NoError(t, err)
			}
			problems := strings.Join(checkOpenAPI(broken), "\n")
			require.Contains(t, problems, m.want, "a document with %s: wrong or no problem reported", m.name)
		}
	})

	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	ops := documentOperations(t, doc)

	t.Run("operations are the routes", func(t *testing.T) {
		patterns := srv.Patterns()
		require.Contains(t, patterns, "GET /api/openapi.json")
		// No configuration serves other routes: everything optional on (the conformance hub, more
		// hubs, a JWT secret instead of dev mode) registers the same patterns.
		all := app.Config{DataDir: t.TempDir(), ConformanceHub: true, Manage: app.ManageConfig{Hubs: []string{"orders"}},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		all.Auth.Secret = strings.Repeat("s", 32)
		other, err := app.New(context.Background(), all)
		require.NoError(t, err)
		require.ElementsMatch(t, patterns, other.Patterns())
		require.NoError(t, other.Close())

		undocumented, unserved := compareRoutes(t, patterns, ops)
		if len(undocumented)+len(unserved) > 0 {
			t.Fatalf("the OpenAPI document and the server's routes differ:\n"+
				"served but not documented (%d):\n  %s\ndocumented but not served (%d):\n  %s",
				len(undocumented), strings.Join(undocumented, "\n  "), len(unserved), strings.Join(unserved, "\n  "))
		}
	})

	v := newValidator(t, raw)

	t.Run("every operation reaches its handler", func(t *testing.T) {
		fallback := func(method string) (*http.Response, []byte) {
			req, err := http.NewRequest(method, base+"/no/such/endpoint", nil)
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, http.StatusNotFound, resp.StatusCode)
			return resp, body
		}
		fallbackResp, fallbackBody := fallback(http.MethodGet)
		require.Contains(t, string(fallbackBody), "No such endpoint.")
		fallbackHead, _ := fallback(http.MethodHead)
		for _, o := range ops {
			req := o.request(t, doc, base, nil)
			resp, body := do(t, req)
			where := fmt.Sprintf("%s %s (%s) -> %d %s", o.method, o.path, o.id, resp.StatusCode, body)
			if o.method == http.MethodHead {
				require.False(t, sameHead(resp, fallbackHead), "%s: answered by the 404 fallback", where)
			} else {
				require.False(t, resp.StatusCode == fallbackResp.StatusCode && bytes.Equal(body, fallbackBody),
					"%s: answered by the 404 fallback", where)
			}
			// The document's security is the handler's: a secured operation refuses the request, the
			// others take it.
			if o.secured {
				require.Equal(t, http.StatusUnauthorized, resp.StatusCode, where)
				require.Equal(t, "Bearer", resp.Header.Get("WWW-Authenticate"), where)
			} else {
				require.Less(t, resp.StatusCode, 500, where)
				require.NotEqual(t, http.StatusUnauthorized, resp.StatusCode, where)
			}
			validateResponse(t, v, req, resp, body, where)
		}
	})

	t.Run("authorized answers match the document", func(t *testing.T) {
		login := operationByID(t, ops, "devLogin")
		resp, body := do(t, login.request(t, doc, base, nil))
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		var tok struct{ Token string }
		require.NoError(t, json.Unmarshal(body, &tok))

		keys, err := app.LoadAccessKeys(cfg)
		require.NoError(t, err)
		key := keys[0].Value
		userAuth := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.Token) }
		rootToken := adminToken(t, base)
		adminAuth := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+rootToken) }
		keyAuth := func(r *http.Request) {
			claims := jwt.MapClaims{"aud": "http://" + r.Host + r.URL.EscapedPath(), "exp": time.Now().Add(time.Minute).Unix()}
			signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
			require.NoError(t, err)
			r.Header.Set("Authorization", "Bearer "+signed)
		}

		// A task to get and cancel, and the ids the other operations use.
		demo := operationByID(t, ops, "createDemoTask")
		resp, body = do(t, demo.request(t, doc, base, userAuth))
		require.Equal(t, http.StatusAccepted, resp.StatusCode, string(body))
		var task struct{ ID string }
		require.NoError(t, json.Unmarshal(body, &task))
		values := map[string]string{"id": task.ID}

		seen := 0
		for _, o := range ops {
			if !o.secured {
				continue
			}
			seen++
			auth := userAuth
			switch o.scheme {
			case "accessKeyToken":
				auth = keyAuth
			case "adminToken":
				auth = adminAuth
			}
			req := o.requestWith(t, doc, base, values, auth)
			if ok, errs := v.ValidateHttpRequestSync(req); !ok {
				t.Errorf("%s %s (%s): the test's request does not match the document: %s", o.method, o.path, o.id, validationMessages(errs))
			}
			req = o.requestWith(t, doc, base, values, auth) // the validator read the body
			resp, body := do(t, req)
			where := fmt.Sprintf("%s %s (%s) -> %d %s", o.method, o.path, o.id, resp.StatusCode, body)
			require.Less(t, resp.StatusCode, 500, where)
			require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, resp.StatusCode, where)
			validateResponse(t, v, req, resp, body, where)
		}
		require.Greater(t, seen, 40)
	})
}

// checkOpenAPI validates an OpenAPI 3.1 document: against the OpenAPI 3.1 JSON Schema (by
// libopenapi-validator), by building libopenapi's model (which resolves references), and by
// checks the schema cannot express. It returns the problems found.
func checkOpenAPI(raw []byte) []string {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	if doc["openapi"] != "3.1.0" {
		return []string{fmt.Sprintf("openapi is %v, not 3.1.0", doc["openapi"])}
	}
	d, err := newDocument(raw)
	if err != nil {
		return []string{"libopenapi: " + err.Error()}
	}
	var problems []string
	if _, err := d.BuildV3Model(); err != nil {
		problems = append(problems, "libopenapi model: "+err.Error())
	}
	if ok, errs := schema_validation.ValidateOpenAPIDocument(d); !ok {
		problems = append(problems, "OpenAPI 3.1 schema: "+validationMessages(errs))
	}
	return append(problems, lintOpenAPI(doc)...)
}

// lintOpenAPI checks what the OpenAPI schema does not: every $ref resolves; every operation has a
// unique operationId, a summary, known tags and its own security requirement naming declared
// schemes; path templates and path parameters agree.
func lintOpenAPI(doc map[string]any) []string {
	var problems []string
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				if _, err := resolvePointer(doc, r); err != nil {
					problems = append(problems, fmt.Sprintf("%s: $ref %s: %v", at, r, err))
				}
			}
			for k, e := range v {
				walk(e, at+"/"+k)
			}
		case []any:
			for i, e := range v {
				walk(e, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(doc, "#")

	tags := map[string]bool{}
	for _, tg := range asSlice(doc["tags"]) {
		tags[fmt.Sprint(asMap(tg)["name"])] = true
	}
	schemes := asMap(asMap(doc["components"])["securitySchemes"])
	ids := map[string]string{}
	template := regexp.MustCompile(`\{([^}]+)\}`)
	for path, item := range asMap(doc["paths"]) {
		for method, o := range asMap(item) {
			if !slices.Contains(httpMethods, method) {
				continue
			}
			op := asMap(o)
			at := method + " " + path
			id, _ := op["operationId"].(string)
			switch {
			case id == "":
				problems = append(problems, at+": no operationId")
			case ids[id] != "":
				problems = append(problems, fmt.Sprintf("%s: operationId %s is %s's too", at, id, ids[id]))
			default:
				ids[id] = at
			}
			if s, _ := op["summary"].(string); s == "" {
				problems = append(problems, at+": no summary")
			}
			if len(asSlice(op["tags"])) == 0 {
				problems = append(problems, at+": no tags")
			}
			for _, tg := range asSlice(op["tags"]) {
				if !tags[fmt.Sprint(tg)] {
					problems = append(problems, fmt.Sprintf("%s: tag %v is not declared", at, tg))
				}
			}
			sec, ok := op["security"]
			if !ok {
				problems = append(problems, at+": no security requirement (use [] for none)")
			}
			for _, req := range asSlice(sec) {
				for name := range asMap(req) {
					if _, ok := schemes[name]; !ok {
						problems = append(problems, fmt.Sprintf("%s: security scheme %s is not declared", at, name))
					}
				}
			}
			if len(asMap(op["responses"])) == 0 {
				problems = append(problems, at+": no responses")
			}
			declared := map[string]bool{}
			for _, p := range append(asSlice(asMap(item)["parameters"]), asSlice(op["parameters"])...) {
				pm := asMap(p)
				if r, ok := pm["$ref"].(string); ok {
					resolved, err := resolvePointer(doc, r)
					if err != nil {
						continue // reported above
					}
					pm = asMap(resolved)
				}
				if pm["in"] == "path" {
					declared[fmt.Sprint(pm["name"])] = true
				}
			}
			inPath := map[string]bool{}
			for _, m := range template.FindAllStringSubmatch(path, -1) {
				inPath[m[1]] = true
				if !declared[m[1]] {
					problems = append(problems, fmt.Sprintf("%s: path parameter %s is not declared", at, m[1]))
				}
			}
			for name := range declared {
				if !inPath[name] {
					problems = append(problems, fmt.Sprintf("%s: path parameter %s is not in the path", at, name))
				}
			}
		}
	}
	sort.Strings(problems)
	return problems
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// resolvePointer resolves a local reference ("#/components/schemas/Task").
func resolvePointer(doc map[string]any, ref string) (any, error) {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("not a local reference")
	}
	var cur any = doc
	for seg := range strings.SplitSeq(p, "/") {
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s is not in an object", seg)
		}
		if cur, ok = m[seg]; !ok {
			return nil, fmt.Errorf("no %s", seg)
		}
	}
	return cur, nil
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
func asSlice(v any) []any        { s, _ := v.([]any); return s }

// operation is an operation of a document, for mutating it.
func operation(doc map[string]any, path, method string) map[string]any {
	return asMap(asMap(asMap(doc["paths"])[path])[method])
}

// apiOperation is one documented operation.
type apiOperation struct {
	method, path, id string
	op               map[string]any
	secured          bool
	scheme           string // the security scheme, when secured
}

// documentOperations lists the document's operations, sorted by path and method.
func documentOperations(t *testing.T, doc map[string]any) []apiOperation {
	t.Helper()
	var ops []apiOperation
	for path, item := range asMap(doc["paths"]) {
		for method, o := range asMap(item) {
			if !slices.Contains(httpMethods, method) {
				continue
			}
			op := asMap(o)
			a := apiOperation{method: strings.ToUpper(method), path: path, op: op}
			a.id, _ = op["operationId"].(string)
			for _, req := range asSlice(op["security"]) {
				for name := range asMap(req) {
					a.secured, a.scheme = true, name
				}
			}
			ops = append(ops, a)
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].path != ops[j].path {
			return ops[i].path < ops[j].path
		}
		return ops[i].method < ops[j].method
	})
	require.NotEmpty(t, ops)
	return ops
}

func operationByID(t *testing.T, ops []apiOperation, id string) apiOperation {
	t.Helper()
	for _, o := range ops {
		if o.id == id {
			return o
		}
	}
	t.Fatalf("no operation %s in the document", id)
	return apiOperation{}
}

// Sample values of path parameters: names the server has (the notifications hub), and ids that it
// does not.
var samplePathValues = map[string]string{
	"hub":          "notifications",
	"user":         "openapi-user",
	"group":        "openapi-group",
	"connectionId": "openapi-connection",
	"id":           "0190c7a2-0000-7000-8000-000000000000",
	"taskId":       "0190c7a2-0000-7000-8000-000000000000",
	"fileName":     "orders.csv",
}

// request is a request for the operation with sample values, its documented example body, and
// what auth adds (nothing when nil).
func (o apiOperation) request(t *testing.T, doc map[string]any, base string, auth func(*http.Request)) *http.Request {
	return o.requestWith(t, doc, base, nil, auth)
}

func (o apiOperation) requestWith(t *testing.T, doc map[string]any, base string, values map[string]string, auth func(*http.Request)) *http.Request {
	t.Helper()
	path := regexp.MustCompile(`\{([^}]+)\}`).ReplaceAllStringFunc(o.path, func(m string) string {
		name := m[1 : len(m)-1]
		if v, ok := values[name]; ok {
			return url.PathEscape(v)
		}
		v, ok := samplePathValues[name]
		require.True(t, ok, "no sample value for path parameter %s of %s %s", name, o.method, o.path)
		return url.PathEscape(v)
	})
	var body io.Reader
	contentType := ""
	if rb := asMap(o.op["requestBody"]); rb != nil {
		if r, ok := rb["$ref"].(string); ok {
			resolved, err := resolvePointer(doc, r)
			require.NoError(t, err)
			rb = asMap(resolved)
		}
		media := asMap(asMap(rb["content"])["application/json"])
		require.NotNil(t, media, "%s %s: no application/json request body", o.method, o.path)
		example, ok := media["example"]
		require.True(t, ok, "%s %s: the request body has no example", o.method, o.path)
		b, err := json.Marshal(example)
		require.NoError(t, err)
		body, contentType = bytes.NewReader(b), "application/json"
	}
	req, err := http.NewRequest(o.method, base+path, body)
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != nil {
		auth(req)
	}
	return req
}

// do sends req and reads the whole reply.
func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		// A stream (the trace) does not end: its first event is its body here.
		first, err := bufio.NewReader(resp.Body).ReadString('\n')
		require.NoError(t, err)
		return resp, []byte(first)
	}
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// sameHead reports whether two HEAD replies look alike (they have no body to compare).
func sameHead(a, b *http.Response) bool {
	if a.StatusCode != b.StatusCode {
		return false
	}
	for _, h := range []string{"Content-Type", "WWW-Authenticate", "X-Ms-Error-Code", "Content-Length"} {
		if a.Header.Get(h) != b.Header.Get(h) {
			return false
		}
	}
	return true
}

// newDocument parses an OpenAPI document with libopenapi, which reports problems in the
// errors it returns, not in logs.
func newDocument(raw []byte) (libopenapi.Document, error) {
	return libopenapi.NewDocumentWithConfiguration(raw, &datamodel.DocumentConfiguration{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

func newValidator(t *testing.T, raw []byte) validator.Validator {
	t.Helper()
	d, err := newDocument(raw)
	require.NoError(t, err)
	v, errs := validator.NewValidator(d, config.WithFormatAssertions())
	require.Empty(t, errs)
	return v
}

// validateResponse checks a reply against the document: its status is documented for the
// operation, and its headers and body are as documented.
func validateResponse(t *testing.T, v validator.Validator, req *http.Request, resp *http.Response, body []byte, where string) {
	t.Helper()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if ok, errs := v.ValidateHttpResponse(req, resp); !ok {
		t.Errorf("%s: the reply does not match the document: %s", where, validationMessages(errs))
	}
}

func validationMessages(errs []*verrors.ValidationError) string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		s := e.Message + ": " + e.Reason
		for _, f := range e.SchemaValidationErrors {
			s += fmt.Sprintf(" [%s: %s]", f.FieldPath, f.Reason)
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

// compareRoutes compares the server's patterns with the documented operations. A pattern
// "GET /x/{id}" is the document's get (and head) of "/x/{id}"; "GET /x/" (a subtree) is the
// document's paths under "/x/"; a pattern without a method is whatever methods the document lists for
// its path (at least one). The fallback "/" is left out.
func compareRoutes(t *testing.T, patterns []string, ops []apiOperation) (undocumented, unserved []string) {
	t.Helper()
	type route struct{ method, path string }
	var routes []route
	for _, p := range patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			method, path = "", p
		}
		require.True(t, strings.HasPrefix(path, "/"), "pattern %q has a host or no path", p)
		if path == "/" {
			continue
		}
		// The web app's pages and bundles (package web) are not the API.
		if path == "/{$}" || path == "/admin" || path == "/assets/" {
			continue
		}
		routes = append(routes, route{method, path})
	}
	serves := func(r route, o apiOperation) bool {
		if !muxPathIs(r.path, o.path) {
			return false
		}
		return r.method == "" || r.method == o.method || (r.method == http.MethodGet && o.method == http.MethodHead)
	}
	for _, r := range routes {
		if !slices.ContainsFunc(ops, func(o apiOperation) bool {
			return serves(r, o) && (r.method == "" || r.method == o.method)
		}) {
			undocumented = append(undocumented, strings.TrimSpace(r.method+" "+r.path))
		}
	}
	for _, o := range ops {
		if !slices.ContainsFunc(routes, func(r route) bool { return serves(r, o) }) {
			unserved = append(unserved, fmt.Sprintf("%s %s (%s)", o.method, o.path, o.id))
		}
	}
	sort.Strings(undocumented)
	sort.Strings(unserved)
	return undocumented, unserved
}

// muxPathIs reports whether a ServeMux pattern's path is the document's path template: the same,
// or, for a subtree pattern ("/x/"), one under it.
func muxPathIs(muxPath, docPath string) bool {
	muxPath = strings.ReplaceAll(muxPath, "...}", "}")
	return muxPath == docPath || (strings.HasSuffix(muxPath, "/") && strings.HasPrefix(docPath, muxPath))
}
