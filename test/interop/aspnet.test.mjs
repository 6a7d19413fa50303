// What a team porting an ASP.NET Core hub relies on, checked with the official client: .NET's error
// texts to the letter (with and without detailed errors), the 401 with an empty body and a
// challenge, a connection handler below hubs on every transport, one hub on two paths (one without
// WebSockets), paths in any letter case, hub filters and per-method roles, and the HTTP request
// behind a connection.

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, describe } from "node:test";
import {
    MATRIX, Collector, deferred, hfetch, itWith, mintToken, newSecret, signalR, unique, withTimeout,
} from "./lib/client.mjs";
import { HeraldServer } from "./lib/server.mjs";

const require = createRequire(import.meta.url);
// Not exported by the package's index: the connection below hubs, as .NET's clients have it.
const { HttpConnection } = require("@microsoft/signalr/dist/cjs/HttpConnection.js");

const SECRET = newSecret("aspnet");
const servers = { plain: null, detailed: null };
const all = () => [servers.plain, servers.detailed];
const it = (name, fn, opts) => itWith(name, all, fn, opts);

before(async () => {
    [servers.plain, servers.detailed] = await Promise.all([
        HeraldServer.start({ jwtSecret: SECRET }),
        HeraldServer.start({ jwtSecret: SECRET, extraArgs: ["--detailed-errors"] }),
    ]);
});
after(async () => {
    await Promise.all(all().map((s) => s?.stop("SIGTERM")));
});

const PAIRS = MATRIX.filter((p) => ["WebSockets/json", "ServerSentEvents/json", "LongPolling/messagepack"].includes(p.name));
const rejection = async (promise, what) => {
    try {
        await withTimeout(promise, 5000, what);
    } catch (e) {
        return e.message;
    }
    assert.fail(`${what} did not fail`);
};

describe("error texts as ASP.NET Core writes them", () => {
    const unexpected = (m) => `An unexpected error occurred invoking '${m}' on the server.`;
    const failed = (m) => `Failed to invoke '${m}' due to an error on the server.`;
    for (const pair of PAIRS) {
        for (const mode of ["plain", "detailed"]) {
            const det = mode === "detailed";
            it(`${pair.name}, ${mode} errors`, async (s) => {
                const c = await s.connect({ url: servers[mode].hub("conformance"), pair });
                const msg = unique("boom-");
                // A method's own error: its text only with detailed errors, named as .NET names it.
                assert.equal(await rejection(c.hub.invoke("Throw", msg), "Throw"),
                    det ? `${unexpected("Throw")} Exception: ${msg}` : unexpected("Throw"));
                // The HubException equivalent shows its text either way.
                assert.equal(await rejection(c.hub.invoke("Fail", msg), "Fail"), `${unexpected("Fail")} HubException: ${msg}`);
                // Binding failures.
                assert.equal(await rejection(c.hub.invoke("Echo", 1, 2, 3), "Echo(1,2,3)"),
                    det ? `${failed("Echo")} InvalidDataException: Invocation provides 3 argument(s) but target expects 1.` : failed("Echo"));
                assert.equal(await rejection(c.hub.invoke("NoSuchMethod"), "NoSuchMethod"),
                    `${failed("NoSuchMethod")} HubException: Method does not exist.`);
                // A streaming method that fails before it streams.
                const stream = deferred();
                c.hub.stream("Count", -1, 0).subscribe({ next: () => {}, complete: () => stream.reject(new Error("completed")), error: (e) => stream.resolve(e.message) });
                assert.equal(await withTimeout(stream.promise, 5000, "Count(-1)"),
                    `${unexpected("Count")} HubException: n must be between 0 and 1000000`);
                // A client stream the client ends with an error: the method did not ask why.
                const subject = new signalR.Subject();
                const sum = c.hub.invoke("Sum", subject);
                subject.next(1);
                subject.error(new Error("the user gave up"));
                assert.equal(await rejection(sum, "Sum"), det ? `${unexpected("Sum")} Exception: the user gave up` : unexpected("Sum"));
                // A method that asks sees why, and answers itself.
                const subject2 = new signalR.Subject();
                const reason = c.hub.invoke("SumOrReason", subject2);
                subject2.next(2);
                subject2.error(new Error("changed my mind"));
                assert.equal(await withTimeout(reason, 5000, "SumOrReason"), "the client ended the stream: changed my mind");
                // A client result the client refused is a HubException on the server too.
                const m = unique("ask");
                c.hub.on(m, () => { throw new Error("not today"); });
                assert.match(await rejection(c.hub.invoke("AskCaller", m, 1), "AskCaller"),
                    new RegExp(`^${unexpected("AskCaller").replace(/[.()']/g, "\\$&")} HubException: .*not today`));
                assert.equal(await withTimeout(c.hub.invoke("Echo", "still here"), 5000, "Echo after"), "still here");
            });
        }
    }
});

describe("401 as .NET answers it", () => {
    it("an empty body and a challenge, and the official client shows no server internals", async (s) => {
        const url = servers.plain.hub("notifications");
        let r = await hfetch(`${url}/negotiate?negotiateVersion=1`, { method: "POST" });
        assert.equal(r.status, 401);
        assert.equal(r.headers.get("www-authenticate"), "Bearer");
        assert.equal(await r.text(), "");
        r = await hfetch(`${url}/negotiate?negotiateVersion=1`, { method: "POST", headers: { Authorization: "Bearer not.a.token" } });
        assert.equal(r.status, 401);
        assert.match(r.headers.get("www-authenticate"), /^Bearer error="invalid_token", error_description="[^"]+"$/);
        assert.equal(await r.text(), "");
        const c = s.build({ url, token: "not.a.token" });
        const message = await rejection(c.hub.start(), "start with a bad token");
        // The client shows a body as the error; with none it shows the status: the same as with .NET.
        assert.match(message, /Unauthorized: Status code '401'/);
        assert.doesNotMatch(message, /token|jwt|authentication required/i, "no Herald or JWT library text reaches the user");
    });
});

describe("a connection handler below hubs (echo), with the official HttpConnection", () => {
    for (const [name, transport] of Object.entries({
        WebSockets: signalR.HttpTransportType.WebSockets,
        ServerSentEvents: signalR.HttpTransportType.ServerSentEvents,
        LongPolling: signalR.HttpTransportType.LongPolling,
    })) {
        it(`echo on ${name}`, async (s) => {
            const conn = new HttpConnection(`${servers.plain.url}/echo`, { transport, logger: signalR.NullLogger.instance });
            const got = [];
            const waiters = [];
            conn.onreceive = (data) => {
                got.push(data);
                for (const w of waiters.splice(0)) w();
            };
            const closed = deferred();
            conn.onclose = (e) => closed.resolve(e);
            await withTimeout(conn.start(signalR.TransferFormat.Text), 10000, "start");
            try {
                assert.equal(conn.transport.constructor.name, `${name === "WebSockets" ? "WebSocket" : name}Transport`);
                const sent = ["hello", "héllo wörld ✓", "x".repeat(5000)];
                for (const m of sent) {
                    await withTimeout(conn.send(m), 5000, "send");
                    while (got.join("").length < sent.slice(0, sent.indexOf(m) + 1).join("").length) {
                        const d = deferred();
                        waiters.push(d.resolve);
                        await withTimeout(d.promise, 5000, `echo of ${m.slice(0, 20)}`);
                    }
                }
                // The transports keep the bytes' order, not message boundaries.
                assert.equal(got.join(""), sent.join(""));
            } finally {
                await withTimeout(conn.stop(), 5000, "stop");
            }
            assert.equal(await withTimeout(closed.promise, 5000, "onclose"), undefined);
        });
    }
});

describe("one hub on two paths, paths in any case", () => {
    it("the path without WebSockets makes the client fall back, and the connections are one hub's", async (s) => {
        const a = await s.connect({ url: servers.plain.hub("conformance"), pair: { name: "default", protocol: "json" } });
        const b = await s.connect({ url: servers.plain.hub("conformance-nows"), pair: { name: "fallback", protocol: "json" } });
        assert.equal(a.hub.connection.transport.constructor.name, "WebSocketTransport");
        assert.equal(b.hub.connection.transport.constructor.name, "ServerSentEventsTransport");
        assert.deepEqual(await withTimeout(b.hub.invoke("ConnectionInfo"), 5000, "ConnectionInfo"), { transport: "ServerSentEvents", protocol: "json" });
        // Sends cross paths.
        const m = unique("cross");
        const col = new Collector(b, m);
        await withTimeout(a.hub.invoke("SendToConnection", b.hub.connectionId, m, "over"), 5000, "SendToConnection");
        assert.equal(await col.next(), "over");
        // So do client results: a connection on one path invokes one on the other.
        const ask = unique("answer");
        b.hub.on(ask, (v) => `b says ${v}`);
        assert.equal(await withTimeout(a.hub.invoke("AskConnection", b.hub.connectionId, ask, 42), 5000, "AskConnection"), "b says 42");
        // Only WebSockets on the path without them: no transport is left.
        const ws = s.build({ url: servers.plain.hub("conformance-nows"), pair: MATRIX[0] });
        await rejection(ws.hub.start(), "WebSockets on the path without them");
    });

    it("paths match in any letter case, as ASP.NET Core routing", async (s) => {
        for (const [path, pair] of [["/HUBS/Conformance", MATRIX[0]], ["/Hubs/CONFORMANCE-NoWs", MATRIX[2]]]) {
            const c = await s.connect({ url: `${servers.plain.url}${path}`, pair });
            assert.equal(await withTimeout(c.hub.invoke("Echo", path), 5000, `Echo on ${path}`), path);
        }
        const conn = new HttpConnection(`${servers.plain.url}/ECHO`, { transport: signalR.HttpTransportType.LongPolling, logger: signalR.NullLogger.instance });
        const got = deferred();
        conn.onreceive = (d) => got.resolve(d);
        await withTimeout(conn.start(signalR.TransferFormat.Text), 10000, "start /ECHO");
        await conn.send("case");
        assert.equal(await withTimeout(got.promise, 5000, "echo"), "case");
        await conn.stop();
    });
});

describe("filters and roles", () => {
    for (const pair of PAIRS) {
        it(`a filter refuses a method for a missing role; a method's own roles (${pair.name})`, async (s) => {
            const url = servers.plain.hub("conformance");
            const user = await s.connect({ url, pair, token: mintToken(SECRET, unique("bob-")) });
            assert.equal(await rejection(user.hub.invoke("FilteredAdmin"), "FilteredAdmin"),
                "An unexpected error occurred invoking 'FilteredAdmin' on the server. HubException: The admin role is required.");
            assert.equal(await rejection(user.hub.invoke("AdminOnly"), "AdminOnly"),
                "Failed to invoke 'AdminOnly' because user is unauthorized");
            const admin = await s.connect({ url, pair, token: mintToken(SECRET, unique("ada-"), { roles: ["admin"] }) });
            assert.equal(await withTimeout(admin.hub.invoke("FilteredAdmin"), 5000, "FilteredAdmin as admin"), "welcome, admin");
            assert.equal(await withTimeout(admin.hub.invoke("AdminOnly"), 5000, "AdminOnly as admin"), "welcome, admin");
        });
    }
});

describe("the HTTP request behind a connection", () => {
    for (const pair of PAIRS) {
        it(`headers, cookies, query, transport and protocol (${pair.name})`, async (s) => {
            const c = await s.connect({
                url: `${servers.plain.hub("conformance")}?tenant=acme`,
                pair,
                httpOptions: { headers: { "X-Conformance": "porting", Cookie: "session=abc123; theme=dark" } },
            });
            assert.equal(await withTimeout(c.hub.invoke("RequestHeader", "X-Conformance"), 5000, "header"), "porting");
            assert.equal(await withTimeout(c.hub.invoke("RequestCookie", "theme"), 5000, "cookie"), "dark");
            assert.equal(await withTimeout(c.hub.invoke("RequestQuery", "tenant"), 5000, "query"), "acme");
            const info = await withTimeout(c.hub.invoke("ConnectionInfo"), 5000, "ConnectionInfo");
            assert.deepEqual(info, { transport: pair.transportClass.replace("Transport", "").replace(/^WebSocket$/, "WebSockets"), protocol: pair.protocol });
        });
    }
});
