// Raw HTTP and WebSocket checks of the wire protocol (no SignalR client), and CORS.

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, describe } from "node:test";
import { hfetch, itWith, newSecret, withTimeout } from "./lib/client.mjs";
import { HeraldServer } from "./lib/server.mjs";

const require = createRequire(import.meta.url);
const WebSocket = require("ws");

const RS = "\u001e";
const ctx = { server: null, cors: null };

before(async () => {
    ctx.server = await HeraldServer.start({ jwtSecret: newSecret("http") });
});
after(async () => {
    await Promise.all([ctx.server?.stop(), ctx.cors?.stop()]);
});

const hubUrl = (name = "conformance") => ctx.server.hub(name);

async function negotiateV1() {
    const r = await hfetch(`${hubUrl()}/negotiate?negotiateVersion=1`, { method: "POST" });
    assert.equal(r.status, 200, `negotiate: HTTP ${r.status}`);
    return r.json();
}

/** Read a fetch body until pred(text so far) is true, or fail after ms. Returns the text. */
async function readUntil(reader, pred, ms, what) {
    const dec = new TextDecoder();
    let text = "";
    const deadline = Date.now() + ms;
    while (!pred(text)) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for ${what}; got so far: ${JSON.stringify(text)}`);
        const { value, done } = await withTimeout(reader.read(), left, `${what}; got so far: ${JSON.stringify(text)}`);
        if (done) throw new Error(`stream ended while waiting for ${what}; got: ${JSON.stringify(text)}`);
        text += dec.decode(value, { stream: true });
    }
    return text;
}

/** Open a raw WebSocket; resolves {ws, messages, next(ms)} or rejects with the HTTP status of a refused upgrade. */
function openWs(url) {
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        const messages = [];
        const waiters = [];
        const closed = new Promise((r) => ws.on("close", (code, reason) => r({ code, reason: reason.toString() })));
        ws.on("message", (d) => {
            // ws 7: text frames arrive as strings, binary frames as Buffers.
            messages.push({ text: d.toString(), isBinary: typeof d !== "string" });
            for (const w of waiters.splice(0)) w();
        });
        ws.on("unexpected-response", (_req, res) => {
            const e = new Error(`upgrade refused: HTTP ${res.statusCode}`);
            e.status = res.statusCode;
            reject(e);
        });
        ws.on("error", reject);
        ws.on("open", () => resolve({
            ws,
            messages,
            closed,
            async next(ms = 5000) {
                if (!messages.length) {
                    await withTimeout(new Promise((r) => waiters.push(r)), ms, "a WebSocket message");
                }
                return messages.shift();
            },
        }));
    });
}

describe("negotiate", () => {
    const it = (name, fn, opts) => itWith(name, () => ctx.server, fn, opts);

    it("v1 reply: connectionId, connectionToken, negotiateVersion 1, transports in order", async () => {
        const r = await hfetch(`${hubUrl()}/negotiate?negotiateVersion=1`, { method: "POST" });
        assert.equal(r.status, 200);
        assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
        const body = await r.json();
        assert.equal(body.negotiateVersion, 1);
        assert.equal(typeof body.connectionId, "string");
        assert.equal(typeof body.connectionToken, "string");
        assert.notEqual(body.connectionId, body.connectionToken, "the token must differ from the public id");
        assert.match(body.connectionId, /^[A-Za-z0-9_-]{22}$/, "16 random bytes, base64url");
        // The token names its connection (any node of a cluster can route it) and adds a secret.
        assert.match(body.connectionToken, /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}$/, "<connection id>.<16 random bytes, base64url>");
        assert.equal(body.connectionToken.split(".")[0], body.connectionId);
        assert.deepEqual(body.availableTransports, [
            { transport: "WebSockets", transferFormats: ["Text", "Binary"] },
            { transport: "ServerSentEvents", transferFormats: ["Text"] },
            { transport: "LongPolling", transferFormats: ["Text", "Binary"] },
        ]);
        assert.notEqual(body.useStatefulReconnect, true, "stateful reconnect was not asked for");
        assert.equal(body.error, undefined);
    });

    it("every negotiate makes a new connection id and token", async () => {
        const a = await negotiateV1();
        const b = await negotiateV1();
        assert.notEqual(a.connectionId, b.connectionId);
        assert.notEqual(a.connectionToken, b.connectionToken);
    });

    it("v0 reply (no negotiateVersion) has no connectionToken", async () => {
        const r = await hfetch(`${hubUrl()}/negotiate`, { method: "POST" });
        assert.equal(r.status, 200);
        const body = await r.json();
        assert.equal(typeof body.connectionId, "string");
        assert.equal(body.connectionToken, undefined, `v0 reply: ${JSON.stringify(body)}`);
        assert.ok(body.negotiateVersion === undefined || body.negotiateVersion === 0, `negotiateVersion ${body.negotiateVersion}`);
        assert.ok(Array.isArray(body.availableTransports));
    });

    it("v0: the connection id is the id of later requests", async () => {
        const r = await hfetch(`${hubUrl()}/negotiate`, { method: "POST" });
        const { connectionId } = await r.json();
        const poll = await hfetch(`${hubUrl()}?id=${encodeURIComponent(connectionId)}&_=1`);
        assert.equal(poll.status, 200, `first poll of a v0 connection: ${poll.status}`);
        const del = await hfetch(`${hubUrl()}?id=${encodeURIComponent(connectionId)}`, { method: "DELETE" });
        assert.equal(del.status, 202);
    });

    it("extra query parameters are kept and do not break negotiate", async () => {
        const r = await hfetch(`${hubUrl()}/negotiate?tenant=blue&negotiateVersion=1&x=y%20z`, { method: "POST" });
        assert.equal(r.status, 200);
        assert.equal((await r.json()).negotiateVersion, 1);
    });

    it("GET on negotiate is 405", async () => {
        const r = await hfetch(`${hubUrl()}/negotiate?negotiateVersion=1`);
        assert.equal(r.status, 405);
    });

    it("negotiate on an unknown hub is 404", async () => {
        const r = await hfetch(`${ctx.server.url}/hubs/no-such-hub/negotiate?negotiateVersion=1`, { method: "POST" });
        assert.equal(r.status, 404);
    });
});

describe("connection requests", () => {
    const it = (name, fn, opts) => itWith(name, () => ctx.server, fn, opts);

    it("long poll with an unknown id is 404 (GET, POST and DELETE)", async () => {
        const id = "AAAAAAAAAAAAAAAAAAAAAA";
        assert.equal((await hfetch(`${hubUrl()}?id=${id}&_=1`)).status, 404, "GET");
        assert.equal((await hfetch(`${hubUrl()}?id=${id}`, { method: "POST", body: `{}${RS}` })).status, 404, "POST");
        assert.equal((await hfetch(`${hubUrl()}?id=${id}`, { method: "DELETE" })).status, 404, "DELETE");
    });

    it("POST without id is 400", async () => {
        const r = await hfetch(hubUrl(), { method: "POST", body: `{"protocol":"json","version":1}${RS}` });
        assert.equal(r.status, 400);
    });

    it("GET without id and without a WebSocket upgrade is 400", async () => {
        const r = await hfetch(hubUrl());
        assert.equal(r.status, 400);
    });

    it("the public connectionId is not accepted in place of the connectionToken", async () => {
        const { connectionId } = await negotiateV1();
        const r = await hfetch(`${hubUrl()}?id=${encodeURIComponent(connectionId)}&_=1`);
        assert.equal(r.status, 404);
    });

    it("long polling by hand: first poll empty at once, handshake, Echo, DELETE ends the pending poll with 204", async () => {
        const { connectionToken } = await negotiateV1();
        const u = `${hubUrl()}?id=${encodeURIComponent(connectionToken)}`;
        const first = await withTimeout(hfetch(`${u}&_=1`), 3000, "the first poll to return at once");
        assert.equal(first.status, 200);
        assert.equal(await first.text(), "");

        const hs = await hfetch(u, { method: "POST", body: `{"protocol":"json","version":1}${RS}` });
        assert.equal(hs.status, 200, "handshake POST");
        const p1 = await withTimeout(hfetch(`${u}&_=2`), 5000, "poll with the handshake reply");
        assert.equal(p1.status, 200);
        let body = await p1.text();
        assert.ok(body.startsWith(`{}${RS}`), `handshake reply: ${JSON.stringify(body)}`);
        assert.ok(body.endsWith(RS), `a poll body must end with 0x1E: ${JSON.stringify(body)}`);

        // Two records in one POST (the client batches).
        const send = await hfetch(u, {
            method: "POST",
            body: `{"type":1,"invocationId":"1","target":"Echo","arguments":["a"]}${RS}`
                + `{"type":1,"invocationId":"2","target":"Echo","arguments":["b"]}${RS}`,
        });
        assert.equal(send.status, 200);
        const results = {};
        while (Object.keys(results).length < 2) {
            const p = await withTimeout(hfetch(`${u}&_=${Date.now()}`), 5000, "poll with completions");
            assert.equal(p.status, 200);
            body = await p.text();
            assert.ok(body === "" || body.endsWith(RS), `a poll body must end with 0x1E: ${JSON.stringify(body)}`);
            for (const rec of body.split(RS).filter(Boolean)) {
                const m = JSON.parse(rec);
                if (m.type === 3) results[m.invocationId] = m;
            }
        }
        assert.equal(results["1"].result, "a");
        assert.equal(results["2"].result, "b");

        const pending = hfetch(`${u}&_=${Date.now()}`);
        const del = await hfetch(u, { method: "DELETE" });
        assert.equal(del.status, 202);
        const ended = await withTimeout(pending, 5000, "the pending poll to end after DELETE");
        assert.equal(ended.status, 204);
        const after = await hfetch(`${u}&_=${Date.now()}`);
        assert.ok(after.status === 404 || after.status === 204, `poll after DELETE: ${after.status}`);
    });

    it("Server-Sent Events by hand: headers, a first comment, data: lines ending in 0x1E", async () => {
        const { connectionToken } = await negotiateV1();
        const u = `${hubUrl()}?id=${encodeURIComponent(connectionToken)}`;
        const ac = new AbortController();
        try {
            const r = await withTimeout(hfetch(u, { headers: { Accept: "text/event-stream" }, signal: ac.signal }), 3000, "SSE response headers");
            assert.equal(r.status, 200);
            assert.match(r.headers.get("content-type") ?? "", /^text\/event-stream/);
            assert.match(r.headers.get("cache-control") ?? "", /no-cache/);
            const reader = r.body.getReader();
            const start = await readUntil(reader, (t) => t.length > 0, 3000, "the first bytes of the event stream");
            assert.ok(start.startsWith(":"), `the stream should open with a comment line, got ${JSON.stringify(start)}`);

            const hs = await hfetch(u, { method: "POST", body: `{"protocol":"json","version":1}${RS}` });
            assert.equal(hs.status, 200);
            await hfetch(u, { method: "POST", body: `{"type":1,"invocationId":"7","target":"Echo","arguments":["line1\\nline2"]}${RS}` });
            const text = await readUntil(reader, (t) => /"invocationId":"7"/.test(t) && /\r?\n\r?\n$/.test(t), 5000, "the Echo completion event");
            assert.match(text, new RegExp(`data: \\{\\}${RS}\\r\\n\\r\\n`), `handshake event: ${JSON.stringify(text)}`);
            const events = text.split(/\r\n\r\n/).filter((e) => e.includes("data:"));
            for (const ev of events) {
                for (const line of ev.split(/\r\n/).filter((l) => l && !l.startsWith(":"))) {
                    assert.ok(line.startsWith("data: "), `every line of an event is data: …, got ${JSON.stringify(line)}`);
                }
                const payload = ev.split(/\r\n/).filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
                assert.ok(payload.endsWith(RS), `every event carries whole records: ${JSON.stringify(payload)}`);
            }
            const completion = events.map((ev) => ev.split(/\r\n/).filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n"))
                .flatMap((p) => p.split(RS).filter(Boolean).map((x) => JSON.parse(x)))
                .find((m) => m.type === 3 && m.invocationId === "7");
            assert.equal(completion?.result, "line1\nline2");
        } finally {
            ac.abort();
        }
    });

    it("WebSocket with an unknown id is refused with 404", async () => {
        const err = await openWs(`${hubUrl().replace(/^http/, "ws")}?id=AAAAAAAAAAAAAAAAAAAAAA`).then(
            (c) => { c.ws.terminate(); return null; }, (e) => e);
        assert.ok(err, "the upgrade was accepted");
        assert.equal(err.status, 404, err.message);
    });

    it("a second WebSocket for a live id is refused with 409", async () => {
        const { connectionToken } = await negotiateV1();
        const u = `${hubUrl().replace(/^http/, "ws")}?id=${encodeURIComponent(connectionToken)}`;
        const first = await openWs(u);
        try {
            first.ws.send(`{"protocol":"json","version":1}${RS}`);
            assert.equal((await first.next()).text, `{}${RS}`);
            const err = await openWs(u).then((c) => { c.ws.terminate(); return null; }, (e) => e);
            assert.ok(err, "a second socket was accepted");
            assert.equal(err.status, 409, err.message);
        } finally {
            first.ws.terminate();
        }
    });

    it("WebSocket: handshake and records batched in one frame are all answered", async () => {
        const c = await openWs(`${hubUrl().replace(/^http/, "ws")}`); // no id: like skipNegotiation
        try {
            c.ws.send(`{"protocol":"json","version":1}${RS}`
                + `{"type":1,"invocationId":"1","target":"Echo","arguments":[1]}${RS}`
                + `{"type":1,"invocationId":"2","target":"Echo","arguments":[2]}${RS}`);
            const got = [];
            const seen = {};
            while (!(seen["1"] && seen["2"])) {
                const m = await c.next(5000);
                assert.equal(m.isBinary, false, "JSON goes in text frames");
                assert.ok(m.text.endsWith(RS), `frame must end with 0x1E: ${JSON.stringify(m.text)}`);
                got.push(m.text);
                for (const rec of m.text.split(RS).filter(Boolean)) {
                    const msg = JSON.parse(rec);
                    if (msg.type === 3) seen[msg.invocationId] = msg.result;
                }
            }
            assert.ok(got[0].startsWith(`{}${RS}`), `first frame starts with the handshake reply: ${JSON.stringify(got[0])}`);
            assert.deepEqual(seen, { 1: 1, 2: 2 });
        } finally {
            c.ws.terminate();
        }
    });

    it("WebSocket: an unknown protocol gets a handshake error and the socket closes", async () => {
        const c = await openWs(`${hubUrl().replace(/^http/, "ws")}`);
        try {
            c.ws.send(`{"protocol":"carrier-pigeon","version":1}${RS}`);
            const m = await c.next(5000);
            assert.ok(m.text.endsWith(RS));
            const reply = JSON.parse(m.text.split(RS)[0]);
            assert.equal(typeof reply.error, "string", `handshake reply: ${m.text}`);
            const closed = await withTimeout(c.closed, 5000, "the socket to close after a handshake error");
            assert.ok(closed.code === 1000 || closed.code === 1011 || closed.code === 1002, `close code ${closed.code}`);
        } finally {
            c.ws.terminate();
        }
    });
});

describe("health and metrics", () => {
    const it = (name, fn, opts) => itWith(name, () => ctx.server, fn, opts);

    it("/healthz and /readyz are 200", async () => {
        assert.equal((await hfetch(`${ctx.server.url}/healthz`)).status, 200);
        assert.equal((await hfetch(`${ctx.server.url}/readyz`)).status, 200);
    });

    it("/metrics is Prometheus text", async () => {
        const r = await hfetch(`${ctx.server.url}/metrics`);
        assert.equal(r.status, 200);
        assert.match(r.headers.get("content-type") ?? "", /^text\/plain/);
        assert.match(await r.text(), /^# (HELP|TYPE) /m);
    });
});

describe("CORS (--cors-origins http://example.test)", () => {
    const ORIGIN = "http://example.test";
    const it = (name, fn, opts) => itWith(name, () => ctx.cors, fn, opts);
    before(async () => {
        ctx.cors = await HeraldServer.start({ jwtSecret: newSecret("cors"), corsOrigins: ORIGIN });
    });

    function preflight(path, method, origin = ORIGIN) {
        return hfetch(`${ctx.cors.url}${path}`, {
            method: "OPTIONS",
            headers: {
                Origin: origin,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization,content-type,x-requested-with,x-signalr-user-agent",
            },
        });
    }

    function checkAllowed(r, method) {
        assert.ok(r.status === 200 || r.status === 204, `preflight status ${r.status}`);
        assert.equal(r.headers.get("access-control-allow-origin"), ORIGIN);
        assert.equal(r.headers.get("access-control-allow-credentials"), "true");
        const allowHeaders = (r.headers.get("access-control-allow-headers") ?? "").toLowerCase();
        for (const h of ["authorization", "x-requested-with", "x-signalr-user-agent"]) {
            assert.ok(allowHeaders === "*" ? false : allowHeaders.split(/\s*,\s*/).includes(h),
                `Access-Control-Allow-Headers lacks ${h} (wildcard is not allowed with credentials): ${allowHeaders}`);
        }
        const allowMethods = (r.headers.get("access-control-allow-methods") ?? "").toUpperCase().split(/\s*,\s*/);
        assert.ok(allowMethods.includes(method), `Access-Control-Allow-Methods lacks ${method}: ${allowMethods}`);
    }

    it("preflight of negotiate (POST) from the allowed origin", async () => {
        checkAllowed(await preflight("/hubs/conformance/negotiate?negotiateVersion=1", "POST"), "POST");
    });

    it("preflight of the connection endpoint (GET, POST, DELETE) from the allowed origin", async () => {
        for (const m of ["GET", "POST", "DELETE"]) {
            checkAllowed(await preflight("/hubs/conformance?id=abc", m), m);
        }
    });

    it("negotiate from the allowed origin echoes it and allows credentials", async () => {
        const r = await hfetch(`${ctx.cors.url}/hubs/conformance/negotiate?negotiateVersion=1`, {
            method: "POST", headers: { Origin: ORIGIN, "X-Requested-With": "XMLHttpRequest" },
        });
        assert.equal(r.status, 200);
        assert.equal(r.headers.get("access-control-allow-origin"), ORIGIN);
        assert.equal(r.headers.get("access-control-allow-credentials"), "true");
    });

    it("another origin is not allowed", async () => {
        const r = await preflight("/hubs/conformance/negotiate?negotiateVersion=1", "POST", "http://evil.test");
        assert.notEqual(r.headers.get("access-control-allow-origin"), "http://evil.test");
        assert.notEqual(r.headers.get("access-control-allow-origin"), "*");
        const n = await hfetch(`${ctx.cors.url}/hubs/conformance/negotiate?negotiateVersion=1`, {
            method: "POST", headers: { Origin: "http://evil.test" },
        });
        assert.notEqual(n.headers.get("access-control-allow-origin"), "http://evil.test");
        assert.notEqual(n.headers.get("access-control-allow-origin"), "*");
    });
});
