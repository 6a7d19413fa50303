// Authentication: /hubs/notifications requires a valid token; tokens from the CLI and from dev login work.

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, describe } from "node:test";
import {
    MATRIX, hfetch, itWith, mintToken, newSecret, unique, unsignedToken, withTimeout,
} from "./lib/client.mjs";
import { HeraldServer, runHerald } from "./lib/server.mjs";

const require = createRequire(import.meta.url);
const WebSocket = require("ws");

const SECRET = newSecret("auth");
const ctx = { server: null, dev: null };

before(async () => {
    ctx.server = await HeraldServer.start({ jwtSecret: SECRET });
});
after(async () => {
    await Promise.all([ctx.server?.stop(), ctx.dev?.stop()]);
});

function negotiate(base, hub, token, { version = 1 } = {}) {
    const headers = {};
    if (token !== undefined) headers.Authorization = `Bearer ${token}`;
    const q = version === null ? "" : `?negotiateVersion=${version}`;
    return hfetch(`${base}/hubs/${hub}/negotiate${q}`, { method: "POST", headers });
}

const BAD_TOKENS = {
    expired: () => mintToken(SECRET, "eve", { iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 }),
    "signed with another secret": () => mintToken(`${SECRET}-wrong`, "mallory"),
    "alg none": () => unsignedToken("mallory"),
    "not a JWT": () => "not-a-jwt",
    "tampered payload": () => {
        const [h, , sig] = mintToken(SECRET, "bob").split(".");
        const p = Buffer.from(JSON.stringify({ sub: "admin", exp: Math.floor(Date.now() / 1000) + 3600 })).toString("base64url");
        return `${h}.${p}.${sig}`;
    },
};

describe("/hubs/notifications requires authentication", () => {
    const servers = () => ctx.server;
    const it = (name, fn, opts) => itWith(name, servers, fn, opts);
    const url = () => ctx.server.hub("notifications");

    it("raw negotiate without a token is 401", async () => {
        const r = await negotiate(ctx.server.url, "notifications", undefined);
        assert.equal(r.status, 401, `status ${r.status}: ${await r.text()}`);
    });

    for (const [what, make] of Object.entries(BAD_TOKENS)) {
        it(`raw negotiate with a token ${what} is 401`, async () => {
            const r = await negotiate(ctx.server.url, "notifications", make());
            assert.equal(r.status, 401, `status ${r.status}: ${await r.text()}`);
        });
    }

    it("raw negotiate with a valid token is 200 and names a connection", async () => {
        const r = await negotiate(ctx.server.url, "notifications", mintToken(SECRET, "alice"));
        assert.equal(r.status, 200);
        const body = await r.json();
        assert.equal(typeof body.connectionId, "string");
        assert.equal(typeof body.connectionToken, "string");
    });

    it("a transport request with a valid connection token but no credentials is refused", async () => {
        const r = await negotiate(ctx.server.url, "notifications", mintToken(SECRET, "alice"));
        const { connectionToken } = await r.json();
        const poll = await hfetch(`${url()}?id=${encodeURIComponent(connectionToken)}&_=${Date.now()}`);
        assert.ok(poll.status === 401 || poll.status === 403, `long poll without credentials got ${poll.status}`);
    });

    for (const pair of MATRIX) {
        it(`${pair.name}: start() without a token rejects`, async (s) => {
            const c = s.build({ url: url(), pair });
            await assert.rejects(withTimeout(c.hub.start(), 15000, "start()"), (e) => {
                if (!pair.skipNegotiation) assert.match(e.message, /401/, `error: ${e.message}`);
                return true;
            });
        });

        it(`${pair.name}: start() with an expired or forged token rejects`, async (s) => {
            for (const what of ["expired", "signed with another secret"]) {
                const c = s.build({ url: url(), pair, token: BAD_TOKENS[what](), label: `${pair.name} ${what}` });
                await assert.rejects(withTimeout(c.hub.start(), 15000, `start() with token ${what}`), (e) => {
                    if (!pair.skipNegotiation) assert.match(e.message, /401/, `error: ${e.message}`);
                    return true;
                });
            }
        });

        it(`${pair.name}: start() with a valid token (accessTokenFactory) connects`, async (s) => {
            let calls = 0;
            const c = await s.connect({
                url: url(), pair, accessTokenFactory: () => { calls += 1; return mintToken(SECRET, "alice"); },
            });
            assert.ok(calls >= 1, "accessTokenFactory was not called");
            assert.equal(c.hub.state, "Connected");
            assert.equal(c.hub.connection.transport.constructor.name, pair.transportClass);
        });
    }

    it("browser style: WebSocket with access_token in the query and no Authorization header", async () => {
        const token = mintToken(SECRET, "alice");
        const r = await negotiate(ctx.server.url, "notifications", token);
        const { connectionToken } = await r.json();
        const wsUrl = `${url().replace(/^http/, "ws")}?id=${encodeURIComponent(connectionToken)}&access_token=${encodeURIComponent(token)}`;
        const reply = await new Promise((resolve, reject) => {
            const ws = new WebSocket(wsUrl);
            const timer = setTimeout(() => { ws.terminate(); reject(new Error("no handshake reply in 5 s")); }, 5000);
            ws.on("unexpected-response", (_req, res) => { clearTimeout(timer); reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)); });
            ws.on("error", (e) => { clearTimeout(timer); reject(e); });
            ws.on("open", () => ws.send('{"protocol":"json","version":1}\u001e'));
            ws.on("message", (d) => { clearTimeout(timer); ws.close(1000); resolve(d.toString()); });
        });
        assert.equal(reply.split("\u001e")[0], "{}");
    });

    it("the conformance hub knows the user of a token printed by `herald token`", async (s) => {
        const user = unique("cli-");
        const r = await runHerald(["token", "--user", user, "--jwt-secret", SECRET]);
        assert.equal(r.code, 0, `herald token exited ${r.code}: ${r.stderr}`);
        const token = r.stdout.trim();
        assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, `not a JWT on stdout: ${JSON.stringify(r.stdout)}`);
        const c = await s.connect({ url: ctx.server.hub("conformance"), token });
        const me = await withTimeout(c.hub.invoke("WhoAmI"), 5000, "WhoAmI");
        assert.equal(me.userId, user);
        const n = await s.connect({ url: url(), token, label: "notifications" });
        assert.equal(n.hub.state, "Connected");
    });

    for (const pair of MATRIX.filter((p) => !p.skipNegotiation)) {
        it(`${pair.name}: a connection closes when its token expires, and automatic reconnect comes back with a new token`, async (s) => {
            const user = unique("exp-");
            const t0 = Date.now();
            const now = () => Math.floor(Date.now() / 1000);
            const c = s.build({
                url: url(), pair, reconnectDelays: [0, 500, 1000],
                // The tokens of the first connection (negotiate and transport) live 2 s; those
                // after, an hour.
                accessTokenFactory: () => mintToken(SECRET, user, { exp: now() + (Date.now() - t0 < 1000 ? 2 : 3600) }),
            });
            const reconnecting = new Promise((r) => c.hub.onreconnecting((e) => r(e)));
            const reconnected = new Promise((r) => c.hub.onreconnected((id) => r(id)));
            await withTimeout(c.hub.start(), 10000, "start");
            const first = c.hub.connectionId;
            const err = await withTimeout(reconnecting, 8000, "the close at the token's expiry");
            assert.match(String(err?.message ?? err), /access token expired/, "the Close says why");
            const id = await withTimeout(reconnected, 8000, "the reconnect with a new token");
            assert.notEqual(id, first, "a new connection");
            assert.equal(c.hub.state, "Connected");
        });
    }

    it("the conformance hub never takes the identity of a forged or expired token", async (s) => {
        // Either refused (401) or treated as anonymous, as ASP.NET does on an [AllowAnonymous] hub.
        for (const what of ["signed with another secret", "expired", "alg none", "tampered payload"]) {
            const c = s.build({ url: ctx.server.hub("conformance"), token: BAD_TOKENS[what](), label: `conformance ${what}` });
            let started = true;
            try {
                await withTimeout(c.hub.start(), 15000, "start()");
            } catch (e) {
                started = false;
                assert.match(e.message, /401/, `${what}: start() failed otherwise than with 401: ${e.message}`);
            }
            if (started) {
                const me = await withTimeout(c.hub.invoke("WhoAmI"), 5000, "WhoAmI");
                assert.equal(me.userId, null, `token ${what} was accepted as user ${me.userId}`);
            }
        }
    });

    it("dev login is off when a JWT secret is configured (404)", async () => {
        const r = await hfetch(`${ctx.server.url}/api/auth/dev-login`, {
            method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user: "alice" }),
        });
        assert.equal(r.status, 404);
    });
});

describe("dev mode (no JWT settings)", () => {
    const servers = () => ctx.dev;
    const it = (name, fn, opts) => itWith(name, servers, fn, opts);
    before(async () => {
        ctx.dev = await HeraldServer.start({});
    });

    async function devLogin(user) {
        const r = await hfetch(`${ctx.dev.url}/api/auth/dev-login`, {
            method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user }),
        });
        assert.equal(r.status, 200, `dev-login: HTTP ${r.status} ${await r.clone().text()}`);
        const body = await r.json();
        assert.equal(typeof body.token, "string");
        return body.token;
    }

    it("dev-login gives a token the notifications hub accepts on every transport", async (s) => {
        const token = await devLogin("dora");
        for (const pair of MATRIX) {
            const c = await s.connect({ url: ctx.dev.hub("notifications"), pair, token });
            assert.equal(c.hub.state, "Connected", pair.name);
        }
    });

    it("WhoAmI reports the dev-login user", async (s) => {
        const user = unique("dev-");
        const c = await s.connect({ url: ctx.dev.hub("conformance"), token: await devLogin(user) });
        assert.equal((await withTimeout(c.hub.invoke("WhoAmI"), 5000, "WhoAmI")).userId, user);
    });

    it("notifications still refuses a missing token in dev mode", async (s) => {
        const r = await negotiate(ctx.dev.url, "notifications", undefined);
        assert.equal(r.status, 401);
        const c = s.build({ url: ctx.dev.hub("notifications") });
        await assert.rejects(withTimeout(c.hub.start(), 15000, "start()"));
    });

    it("dev-login without a user is a 4xx JSON error", async () => {
        const r = await hfetch(`${ctx.dev.url}/api/auth/dev-login`, {
            method: "POST", headers: { "Content-Type": "application/json" }, body: "{}",
        });
        assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
        const body = await r.json();
        assert.equal(typeof body.error?.message, "string", JSON.stringify(body));
    });
});
