// Package web serves Herald's web app: the users' page at / (sign in, new export, the live task
// list, toasts and the inbox) and the operators' page at /admin (live counts, the live trace, a
// broadcast). Both are built from the TypeScript in src/ by esbuild (npm run build) into dist/,
// which is committed and embedded, so that `go build` alone gives a binary with the UI in it.
//
// # Caching and content security
//
// The bundles in dist/assets carry a content hash in their names: they are served immutable, for
// a year. The pages themselves (index.html, admin.html) are never cached, so a new binary's
// bundles are used at once. Every reply carries a Content Security Policy without
// 'unsafe-inline': scripts, styles, images and connections from Herald itself only.
package web
