// The conformance-hub suites, shared by the conformance-*.test.mjs files (split so that each file stays well
// under the runner's per-file timeout).

import assert from "node:assert/strict";
import { after, before, describe } from "node:test";
import {
    Collector, MATRIX, deferred, itWith, mintToken, newSecret, signalR, sleep, unique, withTimeout,
} from "./client.mjs";
import { assertNotReceived, collectStream, connectionIdOf } from "./hubtests.mjs";
import { HeraldServer } from "./server.mjs";

const SECRET = newSecret("conformance");
const ctx = { server: null };
const servers = () => ctx.server;

/** Start one server for the calling test file (before) and stop it (after). */
export function useServer() {
    before(async () => {
        ctx.server = await HeraldServer.start({ jwtSecret: SECRET });
    });
    after(async () => {
        await ctx.server?.stop("SIGTERM");
    });
}

/** The value of the gauge herald_conformance_count_producers on /metrics. */
async function producers() {
    const r = await fetch(`${ctx.server.url}/metrics`);
    const text = await r.text();
    const m = /^herald_conformance_count_producers(?:\{[^}]*\})? ([0-9.e+-]+)$/m.exec(text);
    assert.ok(m, "/metrics has no herald_conformance_count_producers gauge");
    return Number(m[1]);
}

/** Poll an async condition every 25 ms until it is true; fail after ms. */
async function waitUntil(cond, ms, what) {
    const deadline = Date.now() + ms;
    while (!(await cond())) {
        if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        await sleep(25);
    }
}

const ECHO_CASES = {
    strings: ["", "hello", "with \"quotes\", \\backslashes\\ and /slashes/", "line\nbreak\ttab\r",
        "record\u001eseparator", "nul\u0000byte", "x".repeat(10000)],
    numbers: [0, 1, -1, 42, 3.5, -0.25, 123456789.125, 2 ** 31, 2 ** 32 + 1, -(2 ** 40), 9007199254740991,
        -9007199254740991, 1e-7, 1.7976931348623157e308],
    booleans: [true, false],
    null: [null],
    unicode: ["héllo wörld", "日本語のテキスト", "emoji 🎉👍🏽 and 𝄞", "Ünïcödé ✓ — “quotes”", "\u2028\u2029"],
    arrays: [[], [1, 2, 3], ["a", 1, null, true, 2.5], [[1, [2, [3, []]]]], Array.from({ length: 200 }, (_, i) => i)],
    objects: [{}, { a: 1 }, {
        s: "x", n: 1.5, b: true, z: null, arr: [1, "two", { three: 3 }], o: { p: { q: [[]], r: {} } }, "ключ": "значение",
    }],
};

/** Every conformance method on one transport/protocol pair. */
export function pairSuite(pair) {
    describe(pair.name, () => {
        const url = () => ctx.server.hub("conformance");
        const userA = unique("alice-");
        const userC = unique("carol-");
        const tokenA = () => mintToken(SECRET, userA);
        const tokenC = () => mintToken(SECRET, userC);
        const open = (s, opts = {}) => s.connect({ url: url(), pair, ...opts });
        const it = (name, fn, opts) => itWith(name, servers, fn, opts);

        it("starts on the requested transport and protocol", async (s) => {
            const c = await open(s);
            assert.equal(c.hub.state, signalR.HubConnectionState.Connected);
            assert.equal(c.hub.connection.transport.constructor.name, pair.transportClass);
            assert.equal(c.hub._protocol.name, pair.protocol);
            if (!pair.skipNegotiation) {
                assert.equal(typeof c.hub.connectionId, "string");
                assert.ok(c.hub.connectionId.length > 0);
            }
        });

        for (const [kind, values] of Object.entries(ECHO_CASES)) {
            it(`Echo round-trips ${kind}`, async (s) => {
                const c = await open(s);
                for (const v of values) {
                    const got = await withTimeout(c.hub.invoke("Echo", v), 5000, `Echo(${JSON.stringify(v).slice(0, 60)})`);
                    assert.deepEqual(got, v, `Echo(${JSON.stringify(v).slice(0, 200)})`);
                }
            });
        }

        if (pair.protocol === "messagepack") {
            it("Echo round-trips MessagePack binary (Uint8Array)", async (s) => {
                const c = await open(s);
                const bin = new Uint8Array([0, 1, 2, 127, 128, 255]);
                const got = await withTimeout(c.hub.invoke("Echo", bin), 5000, "Echo(bin)");
                assert.ok(got instanceof Uint8Array, `got ${Object.prototype.toString.call(got)} ${JSON.stringify(got)}`);
                assert.deepEqual([...got], [...bin]);
                const nested = await withTimeout(c.hub.invoke("Echo", { data: bin, n: 1 }), 5000, "Echo({data: bin})");
                assert.deepEqual([...nested.data], [...bin]);
            });
        }

        it("Echo: many concurrent invocations each get their own result", async (s) => {
            const c = await open(s);
            const values = Array.from({ length: 50 }, (_, i) => `v${i}`);
            const got = await withTimeout(Promise.all(values.map((v) => c.hub.invoke("Echo", v))), 10000, "50 Echo");
            assert.deepEqual(got, values);
        });

        it("method names match case-insensitively", async (s) => {
            const c = await open(s);
            assert.equal(await withTimeout(c.hub.invoke("echo", "lower"), 5000, "echo"), "lower");
            assert.equal(await withTimeout(c.hub.invoke("ECHO", "upper"), 5000, "ECHO"), "upper");
        });

        it("an unknown method is rejected with .NET's text and the connection survives", async (s) => {
            const c = await open(s);
            await assert.rejects(withTimeout(c.hub.invoke("NoSuchMethod", 1), 5000, "NoSuchMethod"),
                (e) => e.message === "Failed to invoke 'NoSuchMethod' due to an error on the server. HubException: Method does not exist."
                    || assert.fail(`error text: ${e.message}`));
            assert.equal(await withTimeout(c.hub.invoke("Echo", "still here"), 5000, "Echo after"), "still here");
        });

        it("Echo with a wrong number of arguments is rejected and the connection survives", async (s) => {
            const c = await open(s);
            await assert.rejects(withTimeout(c.hub.invoke("Echo", 1, 2, 3), 5000, "Echo(1,2,3)"));
            await assert.rejects(withTimeout(c.hub.invoke("Echo"), 5000, "Echo()"));
            assert.equal(await withTimeout(c.hub.invoke("Echo", "ok"), 5000, "Echo after"), "ok");
        });

        it("Fail completes with an error containing the message", async (s) => {
            const c = await open(s);
            const msg = `boom-${unique("f")} ünï`;
            await assert.rejects(withTimeout(c.hub.invoke("Fail", msg), 5000, "Fail"),
                (e) => e.message.includes(msg) || assert.fail(`error text does not contain ${msg}: ${e.message}`));
            assert.equal(await withTimeout(c.hub.invoke("Echo", 7), 5000, "Echo after Fail"), 7);
        });

        it("WhoAmI anonymous: userId null and the connection's id", async (s) => {
            const c = await open(s);
            const me = await withTimeout(c.hub.invoke("WhoAmI"), 5000, "WhoAmI");
            assert.equal(me.userId, null, `userId: ${JSON.stringify(me)}`);
            assert.equal(typeof me.connectionId, "string");
            assert.ok(me.connectionId.length > 0);
            if (!pair.skipNegotiation) assert.equal(me.connectionId, c.hub.connectionId);
        });

        it("WhoAmI with a token: userId is the token's sub", async (s) => {
            const c = await open(s, { token: tokenA() });
            const me = await withTimeout(c.hub.invoke("WhoAmI"), 5000, "WhoAmI");
            assert.equal(me.userId, userA);
            if (!pair.skipNegotiation) assert.equal(me.connectionId, c.hub.connectionId);
        });

        it("fire-and-forget send() runs the method and gets no Completion", async (s) => {
            const c = await open(s);
            const m = unique("ff");
            const col = new Collector(c, m);
            await withTimeout(c.hub.send("SendToCaller", m, "fire"), 5000, "send()");
            assert.equal(await col.next(), "fire");
            // An Echo after it: its Completion must be the only one.
            assert.equal(await withTimeout(c.hub.invoke("Echo", "after"), 5000, "Echo"), "after");
            const completions = c.events.filter((e) => e.dir === "in" && e.msg.type === 3);
            assert.equal(completions.length, 1, `completions: ${JSON.stringify(completions.map((e) => e.msg))}`);
        });

        it("void methods complete without a result", async (s) => {
            const c = await open(s);
            const m = unique("void");
            const col = new Collector(c, m);
            const r = await withTimeout(c.hub.invoke("SendToCaller", m, 1), 5000, "SendToCaller");
            assert.equal(r, undefined, `SendToCaller returned ${JSON.stringify(r)}`);
            await col.next();
        });

        // --- SendTo* with three connections: A and B are user A, C is user C.
        async function three(s) {
            const a = await open(s, { token: tokenA(), label: `${pair.name}#A` });
            const b = await open(s, { token: tokenA(), label: `${pair.name}#B` });
            const c = await open(s, { token: tokenC(), label: `${pair.name}#C` });
            return [a, b, c];
        }
        function collectors(conns, method) {
            return conns.map((c) => new Collector(c, method));
        }

        it("SendToCaller reaches only the caller", async (s) => {
            const [a, b, c] = await three(s);
            const m = unique("caller");
            const [ca, cb, cc] = collectors([a, b, c], m);
            await withTimeout(a.hub.invoke("SendToCaller", m, { hi: "there" }), 5000, "SendToCaller");
            assert.deepEqual(await ca.next(), { hi: "there" });
            await assertNotReceived(a, [a, b, c], [cb, cc]);
            assert.equal(ca.items.length, 1);
        });

        it("SendToAll reaches every connection, the caller included", async (s) => {
            const [a, b, c] = await three(s);
            const m = unique("all");
            const cols = collectors([a, b, c], m);
            await withTimeout(b.hub.invoke("SendToAll", m, [1, "two"]), 5000, "SendToAll");
            for (const col of cols) assert.deepEqual(await col.next(), [1, "two"]);
        });

        it("SendToOthers reaches everyone but the caller", async (s) => {
            const [a, b, c] = await three(s);
            const m = unique("others");
            const [ca, cb, cc] = collectors([a, b, c], m);
            await withTimeout(a.hub.invoke("SendToOthers", m, "o"), 5000, "SendToOthers");
            assert.equal(await cb.next(), "o");
            assert.equal(await cc.next(), "o");
            await assertNotReceived(b, [a, b, c], [ca]);
        });

        it("SendToConnection reaches only that connection", async (s) => {
            const [a, b, c] = await three(s);
            const bId = await connectionIdOf(b);
            if (!pair.skipNegotiation) assert.equal(bId, b.hub.connectionId);
            const m = unique("conn");
            const [ca, cb, cc] = collectors([a, b, c], m);
            await withTimeout(a.hub.invoke("SendToConnection", bId, m, 99), 5000, "SendToConnection");
            assert.equal(await cb.next(), 99);
            await assertNotReceived(a, [a, b, c], [ca, cc]);
        });

        it("SendToUser reaches every connection of that user and no other", async (s) => {
            const [a, b, c] = await three(s);
            const anon = await open(s, { label: `${pair.name}#anon` });
            const m = unique("user");
            const [ca, cb, cc, cn] = collectors([a, b, c, anon], m);
            await withTimeout(c.hub.invoke("SendToUser", userA, m, { to: "alice" }), 5000, "SendToUser");
            assert.deepEqual(await ca.next(), { to: "alice" });
            assert.deepEqual(await cb.next(), { to: "alice" });
            await assertNotReceived(c, [a, b, c, anon], [cc, cn]);
        });

        it("groups: join, SendToGroup, SendToOthersInGroup, leave", async (s) => {
            const [a, b, c] = await three(s);
            const g = unique("group-");
            await withTimeout(a.hub.invoke("JoinGroup", g), 5000, "A JoinGroup");
            await withTimeout(b.hub.invoke("JoinGroup", g), 5000, "B JoinGroup");

            const m1 = unique("grp");
            const [a1, b1, c1] = collectors([a, b, c], m1);
            await withTimeout(c.hub.invoke("SendToGroup", g, m1, "to-group"), 5000, "SendToGroup");
            assert.equal(await a1.next(), "to-group");
            assert.equal(await b1.next(), "to-group");
            await assertNotReceived(c, [a, b, c], [c1]);

            const m2 = unique("grpothers");
            const [a2, b2, c2] = collectors([a, b, c], m2);
            await withTimeout(a.hub.invoke("SendToOthersInGroup", g, m2, "others-in-group"), 5000, "SendToOthersInGroup");
            assert.equal(await b2.next(), "others-in-group");
            await assertNotReceived(a, [a, b, c], [a2, c2]);

            await withTimeout(b.hub.invoke("LeaveGroup", g), 5000, "B LeaveGroup");
            const m3 = unique("grpleft");
            const [a3, b3, c3] = collectors([a, b, c], m3);
            await withTimeout(c.hub.invoke("SendToGroup", g, m3, "after-leave"), 5000, "SendToGroup after leave");
            assert.equal(await a3.next(), "after-leave");
            await assertNotReceived(c, [a, b, c], [b3, c3]);
        });

        it("groups: joining twice delivers once; a group nobody joined reaches nobody", async (s) => {
            const [a, b, c] = await three(s);
            const g = unique("group-");
            await withTimeout(a.hub.invoke("JoinGroup", g), 5000, "JoinGroup");
            await withTimeout(a.hub.invoke("JoinGroup", g), 5000, "JoinGroup again");
            const m = unique("twice");
            const [ca, cb, cc] = collectors([a, b, c], m);
            await withTimeout(b.hub.invoke("SendToGroup", g, m, 1), 5000, "SendToGroup");
            await withTimeout(b.hub.invoke("SendToGroup", unique("empty-"), m, 2), 5000, "SendToGroup(empty)");
            assert.equal(await ca.next(), 1);
            await assertNotReceived(b, [a, b, c], [cb, cc]);
            assert.deepEqual(ca.items, [1], "a double join must not duplicate delivery");
        });

        it("Count streams 0..n-1 and completes", async (s) => {
            const c = await open(s);
            assert.deepEqual(await withTimeout(collectStream(c.hub, "Count", 5, 10), 10000, "Count(5,10)"), [0, 1, 2, 3, 4]);
            assert.deepEqual(await withTimeout(collectStream(c.hub, "Count", 0, 0), 5000, "Count(0,0)"), []);
            const hundred = await withTimeout(collectStream(c.hub, "Count", 100, 0), 10000, "Count(100,0)");
            assert.deepEqual(hundred, Array.from({ length: 100 }, (_, i) => i));
        });

        it("two Count streams at once are kept apart", async (s) => {
            const c = await open(s);
            const [x, y] = await withTimeout(Promise.all([
                collectStream(c.hub, "Count", 6, 5), collectStream(c.hub, "Count", 3, 10),
            ]), 10000, "two Count streams");
            assert.deepEqual(x, [0, 1, 2, 3, 4, 5]);
            assert.deepEqual(y, [0, 1, 2]);
        });

        it("a cancelled Count stream ends with a Completion from the server", async (s) => {
            const c = await open(s);
            const got3 = deferred();
            const items = [];
            const sub = c.hub.stream("Count", 1000, 20).subscribe({
                next: (v) => { items.push(v); if (items.length === 3) got3.resolve(); },
                error: (e) => got3.reject(e),
                complete: () => got3.reject(new Error("stream completed before it was cancelled")),
            });
            await withTimeout(got3.promise, 5000, "3 items of Count(1000,20)");
            sub.dispose();
            const inv = c.events.find((e) => e.dir === "out" && e.msg.type === 4);
            const id = inv.msg.invocationId;
            await c.waitMessage((e) => e.dir === "out" && e.msg.type === 5 && e.msg.invocationId === id, 2000, "CancelInvocation sent");
            await c.waitMessage((e) => e.dir === "in" && e.msg.type === 3 && e.msg.invocationId === id, 5000,
                `Completion for cancelled stream ${id}`);
        });

        it("a cancelled Count stream stops producing and the connection keeps working", async (s) => {
            const c = await open(s);
            const producersBefore = await producers();
            const got3 = deferred();
            let n = 0;
            const sub = c.hub.stream("Count", 1000, 20).subscribe({
                next: () => { n += 1; if (n === 3) got3.resolve(); },
                error: (e) => got3.reject(e),
                complete: () => {},
            });
            await withTimeout(got3.promise, 5000, "3 items of Count(1000,20)");
            const producing = await producers();
            assert.ok(producing >= producersBefore + 1,
                `herald_conformance_count_producers: ${producersBefore} before the stream, ${producing} while it runs`);
            sub.dispose();
            const id = c.events.find((e) => e.dir === "out" && e.msg.type === 4).msg.invocationId;
            const cancel = await c.waitMessage((e) => e.dir === "out" && e.msg.type === 5 && e.msg.invocationId === id,
                2000, "CancelInvocation sent");
            const itemsOf = () => c.events.filter((e) => e.dir === "in" && e.msg.type === 2 && e.msg.invocationId === id);
            // Let what was already in flight arrive: the Completion, or at most 1 s.
            await c.waitMessage((e) => e.dir === "in" && e.msg.type === 3 && e.msg.invocationId === id, 1000, "completion")
                .catch(() => {});
            const settled = itemsOf().length;
            await sleep(600); // bounded wait to prove that nothing more comes (30 items would at 20 ms each)
            const later = itemsOf().length;
            assert.equal(later, settled, `items kept arriving after the cancel: ${settled} then ${later}`);
            const afterCancel = itemsOf().filter((e) => e.at > cancel.at).length;
            assert.ok(afterCancel <= 10, `${afterCancel} items arrived after CancelInvocation was sent`);
            assert.ok(later < 50, `received ${later} items of a cancelled stream`);
            await waitUntil(async () => (await producers()) <= producersBefore, 3000,
                `herald_conformance_count_producers to fall back to ${producersBefore} (the producer to stop)`);
            assert.equal(await withTimeout(c.hub.invoke("Echo", "after-cancel"), 5000, "Echo after cancel"), "after-cancel");
        });

        it("a long Count(3000, 0) arrives whole and in order (no slow-consumer drop)", async (s) => {
            const c = await open(s);
            const items = await withTimeout(collectStream(c.hub, "Count", 3000, 0), 30000, "Count(3000,0)");
            assert.equal(items.length, 3000);
            assert.ok(items.every((v, i) => v === i), "items out of order");
            assert.equal(c.hub.state, "Connected");
        });

        it("Sum adds a client-to-server stream (Subject)", async (s) => {
            const c = await open(s);
            const subject = new signalR.Subject();
            const p = c.hub.invoke("Sum", subject);
            for (const n of [1, 2, 3, 4]) subject.next(n);
            subject.complete();
            assert.equal(await withTimeout(p, 5000, "Sum([1,2,3,4])"), 10);
        });

        it("Sum with items spread over time, and an empty stream", async (s) => {
            const c = await open(s);
            const subject = new signalR.Subject();
            const p = c.hub.invoke("Sum", subject);
            for (let i = 1; i <= 10; i += 1) {
                subject.next(i * 10);
                await sleep(10); // pacing the producer, not waiting for anything
            }
            subject.complete();
            assert.equal(await withTimeout(p, 5000, "Sum(10..100)"), 550);

            const empty = new signalR.Subject();
            const q = c.hub.invoke("Sum", empty);
            empty.complete();
            assert.equal(await withTimeout(q, 5000, "Sum([])"), 0);
        });

        it("other invocations run while a Sum stream is open", async (s) => {
            // ASP.NET exempts methods with stream parameters from the parallel-invocation limit.
            const c = await open(s);
            const subject = new signalR.Subject();
            const p = c.hub.invoke("Sum", subject);
            subject.next(1);
            assert.equal(await withTimeout(c.hub.invoke("Echo", "during-sum"), 3000, "Echo while Sum is open"), "during-sum");
            subject.next(2);
            subject.complete();
            assert.equal(await withTimeout(p, 5000, "Sum([1,2])"), 3);
        });

        it("two Sum streams at once are kept apart", async (s) => {
            const c = await open(s);
            const x = new signalR.Subject();
            const y = new signalR.Subject();
            const px = c.hub.invoke("Sum", x);
            const py = c.hub.invoke("Sum", y);
            x.next(1); y.next(100); x.next(2); y.next(200); x.next(3);
            y.complete(); x.complete();
            assert.deepEqual(await withTimeout(Promise.all([px, py]), 3000, "two Sums"), [6, 300]);
        });

        it("AskCaller returns what the client handler returned", async (s) => {
            const c = await open(s);
            const m = unique("ask");
            let seen;
            c.hub.on(m, (v) => { seen = v; return { doubled: v.n * 2, tag: "from-client" }; });
            const r = await withTimeout(c.hub.invoke("AskCaller", m, { n: 21 }), 5000, "AskCaller");
            assert.deepEqual(seen, { n: 21 });
            assert.deepEqual(r, { doubled: 42, tag: "from-client" });

            const m2 = unique("askAsync");
            c.hub.on(m2, async (v) => { await sleep(30); return `${v}!`; });
            assert.equal(await withTimeout(c.hub.invoke("AskCaller", m2, "hey"), 5000, "AskCaller async"), "hey!");
            assert.equal(await withTimeout(c.hub.invoke("Echo", "after"), 5000, "Echo after AskCaller"), "after");
        });

        it("AskCaller fails when the client has no handler or its handler throws", async (s) => {
            const c = await open(s);
            await assert.rejects(withTimeout(c.hub.invoke("AskCaller", unique("nohandler"), 1), 5000, "AskCaller without handler"));
            const m = unique("throws");
            c.hub.on(m, () => { throw new Error("client-side failure"); });
            await assert.rejects(withTimeout(c.hub.invoke("AskCaller", m, 1), 5000, "AskCaller with throwing handler"));
            assert.equal(await withTimeout(c.hub.invoke("Echo", "ok"), 5000, "Echo after"), "ok");
        });

        it("Sleep returns ms after at least that long", async (s) => {
            const c = await open(s);
            const t0 = Date.now();
            assert.equal(await withTimeout(c.hub.invoke("Sleep", 200), 5000, "Sleep(200)"), 200);
            assert.ok(Date.now() - t0 >= 190, `Sleep(200) returned after ${Date.now() - t0} ms`);
        });

        it("stopping a connection during Sleep ends the invocation and leaves the server healthy", async (s) => {
            const c = await open(s);
            const p = c.hub.invoke("Sleep", 20000);
            p.catch(() => {});
            await c.waitMessage((e) => e.dir === "out" && e.msg.type === 1 && /sleep/i.test(e.msg.target), 2000, "Sleep sent");
            await withTimeout(c.hub.stop(), 5000, "stop() during Sleep");
            await assert.rejects(withTimeout(p, 2000, "Sleep rejection"));
            const d = await open(s);
            assert.equal(await withTimeout(d.hub.invoke("Echo", "fresh"), 5000, "Echo on a new connection"), "fresh");
        });
    });
}

/** One user on many transports; messages across protocols. */
export function mixedSuite() {
    describe("mixed transports and protocols", () => {
        const url = () => ctx.server.hub("conformance");
        const it = (name, fn, opts) => itWith(name, servers, fn, opts);

        it("SendToUser reaches one user's connections on every transport; another user's does not", async (s) => {
            const u = unique("uma-");
            const v = unique("vic-");
            const tokenU = mintToken(SECRET, u); // one token, many connections
            const mine = [];
            for (const pair of MATRIX) {
                mine.push(await s.connect({ url: url(), pair, token: tokenU, label: `${u}@${pair.name}` }));
            }
            const other = await s.connect({ url: url(), pair: MATRIX[2], token: mintToken(SECRET, v), label: `${v}@LongPolling/json` });
            const other2 = await s.connect({ url: url(), pair: MATRIX[3], token: mintToken(SECRET, v), label: `${v}@WebSockets/messagepack` });
            const m = unique("multi");
            const cols = mine.map((c) => new Collector(c, m));
            const oc = [new Collector(other, m), new Collector(other2, m)];
            await withTimeout(other.hub.invoke("SendToUser", u, m, { task: 7, done: true }), 5000, "SendToUser");
            for (const col of cols) assert.deepEqual(await col.next(), { task: 7, done: true }, col.label);
            await assertNotReceived(other, [...mine, other, other2], oc);
        });

        it("SendToAll and groups cross protocols (JSON sender, MessagePack receivers and back)", async (s) => {
            const conns = [];
            for (const pair of MATRIX) conns.push(await s.connect({ url: url(), pair, label: pair.name }));
            const g = unique("mixgroup-");
            for (const c of conns.slice(0, 4)) await withTimeout(c.hub.invoke("JoinGroup", g), 5000, `JoinGroup ${c.label}`);
            const payload = { n: 1.5, s: "ü", a: [null, true, 3] };
            const m = unique("mixall");
            const cols = conns.map((c) => new Collector(c, m));
            await withTimeout(conns[1].hub.invoke("SendToAll", m, payload), 5000, "SendToAll from SSE/json");
            for (const col of cols) assert.deepEqual(await col.next(), payload, col.label);

            const mg = unique("mixgroup");
            const gcols = conns.map((c) => new Collector(c, mg));
            await withTimeout(conns[4].hub.invoke("SendToGroup", g, mg, payload), 5000, "SendToGroup from LP/msgpack");
            for (const col of gcols.slice(0, 4)) assert.deepEqual(await col.next(), payload, col.label);
            await assertNotReceived(conns[4], conns, gcols.slice(4));
        });

        for (const pair of [MATRIX[0], MATRIX[3], MATRIX[2]]) {
            it(`${pair.name}: a client that asks for stateful reconnect still connects and works`, async (s) => {
                const c = s.build({ url: url(), pair, statefulReconnect: true, label: `${pair.name} (stateful reconnect)` });
                await withTimeout(c.hub.start(), 15000, "start() with withStatefulReconnect()");
                assert.equal(await withTimeout(c.hub.invoke("Echo", "stateful?"), 5000, "Echo"), "stateful?");
                const items = await withTimeout(collectStream(c.hub, "Count", 3, 1), 5000, "Count(3,1)");
                assert.deepEqual(items, [0, 1, 2]);
            });
        }

        it("with no transport option the client picks WebSockets", async (s) => {
            const c = await s.connect({ url: url(), pair: { name: "default", protocol: "json" } });
            assert.equal(c.hub.connection.transport.constructor.name, "WebSocketTransport");
            assert.equal(await withTimeout(c.hub.invoke("Echo", "d"), 5000, "Echo"), "d");
        });
    });
}
