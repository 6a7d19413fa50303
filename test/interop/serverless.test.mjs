// The management API (the hosted Azure SignalR Service's data-plane REST API) and its serverless
// clients, on one server: `herald serve --hub orders --access-key K`. A tiny negotiate backend in this
// process answers the official client's negotiate with the hosted service's redirect
// ({url: "<herald>/client/?hub=orders", accessToken}); the client follows it to Herald, connects as
// the token's nameid user, and only listens. The tests send to it with REST calls signed with K, as
// the Azure SDKs do (manage/rest/rest_test.go covers the same with Herald's Go SDK).

import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { after, before, describe } from "node:test";
import {
    Collector, MATRIX, hfetch, itWith, newSecret, signalR, sleep, unique, withTimeout,
} from "./lib/client.mjs";
import { HeraldServer } from "./lib/server.mjs";

const KEY = `herald-interop-access-key-${randomBytes(16).toString("hex")}`;
const WRONG_KEY = `herald-interop-wrong-key-${randomBytes(16).toString("hex")}`;
const API = "api-version=2022-06-01";
/** A redirect cannot be combined with skipNegotiation: every other pair of the matrix. */
const PAIRS = MATRIX.filter((p) => !p.skipNegotiation);
/** What every send carries: strings, numbers (a fraction, 2^40), nested objects and arrays, null. */
const ARGS = ["text with \"quotes\" and ünïcödé", 42, 1.5, 2 ** 40, { order: { id: "o-1", lines: [1, "two", null, { qty: 3.25 }] }, ok: true }, null];

const ctx = { server: null, backend: null };
const servers = () => ctx.server;
const it = (name, fn, opts) => itWith(name, servers, fn, opts);

// ------------------------------------------------------------------------------------------- tokens

/** An HS256 JWT signed with the UTF-8 bytes of key (not decoded), as the hosted service's SDKs sign. */
function signJwt(key, claims) {
    const enc = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const head = enc({ alg: "HS256", typ: "JWT" });
    const body = enc(claims);
    const sig = createHmac("sha256", Buffer.from(key, "utf8")).update(`${head}.${body}`).digest("base64url");
    return `${head}.${body}.${sig}`;
}

const now = () => Math.floor(Date.now() / 1000);

// ---------------------------------------------------------------------------------------- backend

/**
 * The application's negotiate endpoint: POST /negotiate?user=U answers the redirect to Herald's
 * serverless endpoint with a token for U. `bad` makes the token wrong on purpose: "key" (signed
 * with another key), "aud" (the audience is another hub's client URL), "expired".
 */
function startBackend(heraldUrl) {
    const calls = [];
    const srv = createServer((req, res) => {
        const u = new URL(req.url, "http://backend");
        calls.push(`${req.method} ${req.url}`);
        req.resume();
        if (req.method !== "POST" || u.pathname !== "/negotiate") {
            res.writeHead(404, { "Content-Type": "text/plain" }).end("not the negotiate endpoint");
            return;
        }
        const user = u.searchParams.get("user");
        const bad = u.searchParams.get("bad");
        const url = `${heraldUrl}/client/?hub=orders`;
        const claims = { aud: url, nameid: user, iat: now(), exp: now() + 3600 };
        let key = KEY;
        if (bad === "key") key = WRONG_KEY;
        if (bad === "aud") claims.aud = `${heraldUrl}/client/?hub=notifications`;
        if (bad === "expired") Object.assign(claims, { iat: now() - 7200, exp: now() - 3600 });
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ url, accessToken: signJwt(key, claims) }));
    });
    return new Promise((resolve, reject) => {
        srv.on("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const { port } = srv.address();
            resolve({
                url: `http://127.0.0.1:${port}`,
                calls,
                close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(() => r()); }),
            });
        });
    });
}

before(async () => {
    ctx.server = await HeraldServer.start({ jwtSecret: newSecret("serverless"), extraArgs: ["--hub", "orders", "--access-key", KEY] });
    ctx.backend = await startBackend(ctx.server.url);
});
after(async () => {
    await ctx.backend?.close();
    await ctx.server?.stop("SIGTERM");
});

// ------------------------------------------------------------------------------------------- helpers

/** The client's URL: the backend (its negotiate redirects to Herald). */
function backendUrl(user, bad) {
    return `${ctx.backend.url}/?user=${encodeURIComponent(user)}${bad ? `&bad=${bad}` : ""}`;
}

/** Start the official client against the backend as `user` on `pair`. */
function listen(s, pair, user, label) {
    return s.connect({ url: backendUrl(user), pair, label: label ?? `${pair.name} ${user}` });
}

const enc = encodeURIComponent;

/**
 * A management API call: token signed with `key` (default K) whose aud is the URL without its query
 * (or `aud`), exp in a minute. Resolves {status, text, body (parsed JSON or null), headers}.
 */
async function rest(method, pathAndQuery, { body, key = KEY, aud, token, base = ctx.server.url } = {}) {
    const url = `${base}${pathAndQuery}`;
    const headers = {};
    const tok = token ?? signJwt(key, { aud: aud ?? url.split("?")[0], exp: now() + 60 });
    if (tok) headers.Authorization = `Bearer ${tok}`;
    const init = { method, headers };
    if (body !== undefined) {
        init.body = typeof body === "string" ? body : JSON.stringify(body);
        headers["Content-Type"] = "application/json";
    }
    const r = await withTimeout(hfetch(url, init), 10000, `${method} ${pathAndQuery}`);
    const text = method === "HEAD" ? "" : await r.text();
    let parsed = null;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, text, body: parsed, headers: r.headers };
}

/** POST a send and expect 202. */
async function send(path, target, args) {
    const r = await rest("POST", `${path}?${API}`, { body: { target, arguments: args } });
    assert.equal(r.status, 202, `POST ${path}: ${r.status} ${r.text}`);
}

/**
 * Nothing more arrives at `conn`: a marker sent to it after the sends under test arrives (messages to
 * one connection keep their order), then, after a moment for late duplicates, every collector in
 * `once` holds exactly one item and every one in `silent` none.
 */
async function settleOn(conn, once, silent = []) {
    const marker = unique("marker");
    const col = new Collector(conn, marker);
    await send(`/api/hubs/orders/connections/${enc(conn.hub.connectionId)}/:send`, marker, ["m"]);
    await col.next(5000);
    await sleep(200);
    for (const c of once) assert.equal(c.items.length, 1, `${c.label} must get ${c.method} exactly once, got ${JSON.stringify(c.items)}`);
    for (const c of silent) assert.deepEqual(c.items, [], `${c.label} must not get ${c.method}, got ${JSON.stringify(c.items)}`);
}

async function waitUntil(cond, ms, what) {
    const deadline = Date.now() + ms;
    while (!(await cond())) {
        if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        await sleep(50);
    }
}

// --------------------------------------------------------------------------------------------- tests

for (const pair of PAIRS) {
    describe(`serverless client, ${pair.name}`, () => {
        it("started against the backend, it follows the redirect to Herald, and Herald knows its connection and its user", async (s) => {
            const user = unique("alice-");
            const before = ctx.backend.calls.length;
            const c = await listen(s, pair, user);
            assert.equal(c.hub.state, signalR.HubConnectionState.Connected);
            assert.equal(c.hub.connection.transport.constructor.name, pair.transportClass);
            assert.equal(c.hub._protocol.name, pair.protocol);
            const calls = ctx.backend.calls.slice(before);
            s.note(`[test] backend calls: ${JSON.stringify(calls)}`);
            assert.ok(calls.some((x) => x.startsWith(`POST /negotiate?user=${enc(user)}`)), `the client negotiated at the backend: ${JSON.stringify(calls)}`);
            assert.equal(calls.length, 1, `only the negotiate went to the backend: ${JSON.stringify(calls)}`);
            // The connection the client reports is Herald's (the id came from Herald's negotiate).
            const id = c.hub.connectionId;
            assert.equal(typeof id, "string");
            assert.equal((await rest("HEAD", `/api/hubs/orders/connections/${enc(id)}?${API}`)).status, 200, "HEAD connection");
            assert.equal((await rest("HEAD", `/api/hubs/orders/users/${enc(user)}?${API}`)).status, 200, "HEAD user");
            assert.equal((await rest("HEAD", `/api/hubs/orders/connections/${enc(`${id}x`)}?${API}`)).status, 404, "HEAD another connection");
            assert.equal((await rest("HEAD", `/api/hubs/orders/users/${enc(`${user}x`)}?${API}`)).status, 404, "HEAD another user");
            // Only the orders hub has it.
            assert.equal((await rest("HEAD", `/api/hubs/notifications/connections/${enc(id)}?${API}`)).status, 404, "HEAD on notifications");
        });

        it("REST sends to the user, a group, the connection and all reach it once with their arguments; a send to bob does not", async (s) => {
            const alice = await listen(s, pair, "alice");
            const bob = await listen(s, pair, "bob");
            const id = alice.hub.connectionId;
            const g = unique("group-");
            const put = await rest("PUT", `/api/hubs/orders/groups/${enc(g)}/connections/${enc(id)}?${API}`);
            assert.equal(put.status, 200, `PUT group connection: ${put.text}`);
            assert.equal((await rest("HEAD", `/api/hubs/orders/groups/${enc(g)}?${API}`)).status, 200, "HEAD group");

            const [toUser, toGroup, toConn, toAll, toBob] = ["toUser", "toGroup", "toConn", "toAll", "toBob"].map((m) => unique(m));
            const cols = [toUser, toGroup, toConn, toAll].map((m) => new Collector(alice, m));
            const aliceBob = new Collector(alice, toBob);
            const bobGot = new Collector(bob, toBob);
            await send("/api/hubs/orders/users/alice/:send", toUser, ARGS);
            await send(`/api/hubs/orders/groups/${enc(g)}/:send`, toGroup, ARGS);
            await send(`/api/hubs/orders/connections/${enc(id)}/:send`, toConn, ARGS);
            await send("/api/hubs/orders/:send", toAll, ARGS);
            await send("/api/hubs/orders/users/bob/:send", toBob, ["for bob"]);
            for (const col of cols) assert.deepEqual(await col.next(5000), ARGS, `${col.method}'s arguments`);
            assert.equal(await bobGot.next(5000), "for bob", "bob gets his own");
            await settleOn(alice, cols, [aliceBob]);
        });

        it("a user added to a group (PUT users/{user}/groups/{group}, no ttl) before connecting gets the group's sends", async (s) => {
            const user = unique("carol-");
            const g = unique("team-");
            const put = await rest("PUT", `/api/hubs/orders/users/${enc(user)}/groups/${enc(g)}?${API}`);
            assert.equal(put.status, 200, `PUT user group: ${put.text}`);
            assert.equal((await rest("HEAD", `/api/hubs/orders/users/${enc(user)}/groups/${enc(g)}?${API}`)).status, 200, "HEAD user in group");
            const c = await listen(s, pair, user);
            const other = await listen(s, pair, unique("dave-"));
            const m = unique("toTeam");
            const col = new Collector(c, m);
            const otherCol = new Collector(other, m);
            await send(`/api/hubs/orders/groups/${enc(g)}/:send`, m, ["team news", 7]);
            assert.deepEqual(await col.next(5000), ["team news", 7]);
            await settleOn(c, [col]);
            await settleOn(other, [], [otherCol]);
        });

        it("invoking a hub method closes the serverless client with an error it shows (\"can only receive\")", async (s) => {
            const user = unique("erin-");
            const c = await listen(s, pair, user);
            const id = c.hub.connectionId;
            const inv = c.hub.invoke("AnyMethod", 1).then(() => "resolved", (e) => e);
            const err = await withTimeout(c.closed, 5000, "onclose");
            assert.ok(err instanceof Error, `onclose got ${err}`);
            assert.match(err.message, /can only receive/, `onclose error: ${err.message}`);
            const res = await withTimeout(inv, 5000, "the invocation to settle");
            assert.ok(res instanceof Error, `the invocation must fail, got ${res}`);
            assert.equal(c.hub.state, signalR.HubConnectionState.Disconnected);
            await waitUntil(async () => (await rest("HEAD", `/api/hubs/orders/connections/${enc(id)}?${API}`)).status === 404,
                5000, "Herald to forget the closed connection");
        });

        it("tokens signed with a wrong key, for another hub's URL, or expired are refused at negotiate (401)", async (s) => {
            for (const bad of ["key", "aud", "expired"]) {
                const user = unique(`mallory-${bad}-`);
                const c = s.build({ url: backendUrl(user, bad), pair, label: `${pair.name} bad=${bad}` });
                await assert.rejects(withTimeout(c.hub.start(), 15000, `start() with bad=${bad}`), (e) => {
                    assert.match(e.message, /401/, `bad=${bad}: ${e.message}`);
                    return true;
                });
                assert.equal(c.hub.state, signalR.HubConnectionState.Disconnected);
                assert.equal((await rest("HEAD", `/api/hubs/orders/users/${enc(user)}?${API}`)).status, 404, `bad=${bad}: the user is not connected`);
            }
        });

        it("the v1 path POST /api/v1/hubs/orders/users/{user}, with a token for that URL, reaches the user", async (s) => {
            const c = await listen(s, pair, "alice");
            const m = unique("v1");
            const col = new Collector(c, m);
            const r = await rest("POST", "/api/v1/hubs/orders/users/alice", { body: { target: m, arguments: ["via v1", 1.5] } });
            assert.equal(r.status, 202, `v1 send: ${r.status} ${r.text}`);
            assert.deepEqual(await col.next(5000), ["via v1", 1.5]);
            await settleOn(c, [col]);
        });
    });
}

describe("management API refusals", () => {
    it("a wrong key is 401, an unknown hub 404 with a JSON error, a malformed body 400 bad_request, and nothing is delivered", async (s) => {
        const c = await listen(s, PAIRS[0], "alice");
        const target = unique("refused");
        const col = new Collector(c, target);
        const path = "/api/hubs/orders/users/alice/:send";
        const good = { target, arguments: ["should not arrive"] };

        const wrong = await rest("POST", `${path}?${API}`, { body: good, key: WRONG_KEY });
        assert.equal(wrong.status, 401, `wrong key: ${wrong.text}`);
        assert.equal(typeof wrong.body?.error?.code, "string", `wrong key: JSON error ${wrong.text}`);
        const none = await rest("POST", `${path}?${API}`, { body: good, token: "" });
        assert.equal(none.status, 401, `no token: ${none.text}`);
        const otherUrl = await rest("POST", `${path}?${API}`, { body: good, aud: `${ctx.server.url}/api/hubs/orders/users/bob/:send` });
        assert.equal(otherUrl.status, 401, `a token for another URL: ${otherUrl.text}`);

        const unknown = await rest("POST", `/api/hubs/nosuchhub/:send?${API}`, { body: good });
        assert.equal(unknown.status, 404, `unknown hub: ${unknown.text}`);
        assert.match(unknown.headers.get("content-type") ?? "", /application\/json/);
        assert.equal(unknown.body?.error?.code, "hub_not_found", `unknown hub: ${unknown.text}`);
        assert.equal(typeof unknown.body?.error?.message, "string");

        for (const [what, body] of Object.entries({
            "not JSON": `{"target":"${target}","arguments":[`,
            "no target": JSON.stringify({ arguments: ["x"] }),
            "arguments not an array": JSON.stringify({ target, arguments: { a: 1 } }),
            "empty": "",
        })) {
            const r = await rest("POST", `${path}?${API}`, { body });
            assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
            assert.equal(r.body?.error?.code, "bad_request", `${what}: ${r.text}`);
            assert.ok(typeof r.body.error.message === "string" && r.body.error.message.length > 0, `${what}: a message, ${r.text}`);
        }
        await settleOn(c, [], [col]);
    });
});

it("the server reported no data race, panic or fatal error (HERALD_BIN=bin/herald-race to catch races)", async () => {
    assert.deepEqual(ctx.server.log.filter((l) => /WARNING: DATA RACE|\bpanic: |fatal error: /.test(l)), []);
});
