// Stateful reconnect with the official client (withStatefulReconnect) on WebSockets, through a proxy
// that resets the TCP connection while the server sends 1,000 numbered messages and holds the
// client's reconnect for a while: every message arrives once, in order, on the same connection.

import assert from "node:assert/strict";
import { after, before, describe } from "node:test";
import { MATRIX, Collector, itWith, mintToken, newSecret, sleep, unique, withTimeout } from "./lib/client.mjs";
import { BlipProxy } from "./lib/proxy.mjs";
import { HeraldServer, freePort } from "./lib/server.mjs";

const SECRET = newSecret("stateful");
const WS = MATRIX.filter((p) => p.transport === 1 && !p.skipNegotiation); // WebSockets, json and messagepack
const ctx = {};

before(async () => {
    const start = async (extraArgs = []) => HeraldServer.start({ port: await freePort(), jwtSecret: SECRET, extraArgs });
    [ctx.server, ctx.plain, ctx.small] = await Promise.all([
        start(),
        start(["--no-stateful-reconnect"]),
        start(["--stateful-reconnect-buffer", "3000", "--disconnect-timeout", "2s"]),
    ]);
    for (const k of ["server", "plain", "small"]) ctx[`${k}Proxy`] = await BlipProxy.start(BlipProxy.target(ctx[k].url));
});
after(async () => {
    for (const k of ["server", "plain", "small"]) {
        await ctx[`${k}Proxy`]?.stop();
        await ctx[k]?.stop();
    }
});

const servers = () => [ctx.server, ctx.plain, ctx.small].filter(Boolean);
const it = (name, fn, opts) => itWith(name, servers, fn, { timeout: 60000, ...opts });

/** A receiver through the proxy and a sender straight to the server. */
async function open(s, server, proxy, pair, { stateful = true } = {}) {
    const user = unique("sr-");
    const rx = s.build({
        url: `${proxy.url}/hubs/conformance`, pair, statefulReconnect: stateful,
        token: mintToken(SECRET, user), label: `${pair.name} receiver (via proxy)`,
    });
    const events = { reconnecting: 0, closed: null };
    rx.hub.onreconnecting(() => { events.reconnecting += 1; });
    rx.closed.then((e) => { events.closed = e ?? "closed"; });
    const nums = new Collector(rx, "num");
    await withTimeout(rx.hub.start(), 10000, "receiver start");
    const tx = s.build({ url: server.hub("conformance"), pair: MATRIX[0], token: mintToken(SECRET, unique("tx-")), label: "sender" });
    await withTimeout(tx.hub.start(), 10000, "sender start");
    return { user, rx, tx, nums, events, id: rx.hub.connectionId };
}

/** Send 1..n to user, paced (about n/250 s), calling at(i) before message i. */
async function sendNumbered(tx, user, n, at = () => {}) {
    for (let i = 1; i <= n; i++) {
        await at(i);
        await tx.hub.send("SendToUser", user, "num", i);
        if (i % 5 === 0) await sleep(20);
    }
    // The sender's invocations run in order: one more round trip and every send has been made.
    await tx.hub.invoke("WhoAmI");
}

const range = (n) => Array.from({ length: n }, (_, i) => i + 1);

describe("stateful reconnect on one node", () => {
    for (const pair of WS) {
        it(`${pair.name}: 1,000 messages across two resets (held 1.5 s and 1 s) arrive once, in order, on one connection`, async (s) => {
            const proxy = ctx.serverProxy;
            const c = await open(s, ctx.server, proxy, pair);
            // The client sends too, through the blips: the server drops what it resends twice.
            const sink = s.build({ url: ctx.server.hub("conformance"), pair: MATRIX[0], token: mintToken(SECRET, unique("sink-")), label: "sink" });
            const up = new Collector(sink, "up");
            await sink.hub.start();
            const sinkUser = (await sink.hub.invoke("WhoAmI")).userId;
            const upward = (async () => {
                for (let i = 1; i <= 200; i++) {
                    await c.rx.hub.send("SendToUser", sinkUser, "up", i);
                    await sleep(15);
                }
            })();
            const cutsBefore = proxy.cuts;
            await sendNumbered(c.tx, c.user, 1000, (i) => {
                if (i === 200) proxy.cut(1500);
                if (i === 750) proxy.cut(1000);
            });
            await upward;
            await withTimeout((async () => { while (c.nums.items.length < 1000) await sleep(50); })(), 20000,
                `1,000 messages (have ${c.nums.items.length})`);
            await withTimeout((async () => { while (up.items.length < 200) await sleep(50); })(), 20000,
                `200 client messages (have ${up.items.length})`);
            await sleep(300); // a duplicate would arrive now
            assert.equal(proxy.cuts - cutsBefore, 2);
            assert.deepEqual(c.nums.items, range(1000), "server to client: every message once, in order");
            assert.deepEqual(up.items, range(200), "client to server: every message once, in order");
            assert.equal(c.rx.hub.connectionId, c.id, "the same connection");
            assert.equal(c.events.reconnecting, 0, "no reconnect was visible to the app");
            assert.equal(c.events.closed, null, "the connection never closed");
            const seqIn = c.rx.events.filter((e) => e.dir === "in" && e.msg.type === 9).length;
            const seqOut = c.rx.events.filter((e) => e.dir === "out" && e.msg.type === 9).length;
            assert.equal(seqIn, 2, "the server resumed twice (a Sequence each time)");
            assert.equal(seqOut, 2, "the client resumed twice");
        });
    }

    it("without stateful reconnect the same blip loses the messages sent meanwhile (the baseline)", async (s) => {
        const c = await open(s, ctx.plain, ctx.plainProxy, WS[0]);
        const negotiated = c.rx.hub.connection.features?.reconnect;
        assert.notEqual(negotiated, true, "the server did not offer stateful reconnect");
        await sendNumbered(c.tx, c.user, 300, (i) => { if (i === 100) ctx.plainProxy.cut(500); });
        await sleep(500);
        assert.ok(c.events.closed !== null, "the connection closed at the blip");
        assert.ok(c.nums.items.length < 300, `messages were lost (${c.nums.items.length} of 300 arrived)`);
    });

    it("a client that acknowledges too little for the buffer, or comes back too late, is closed; what it got has no gap", async (s) => {
        // 3,000-byte buffer and a 2 s window: held 3 s, the client comes back too late, and the
        // messages sent meanwhile outgrow the buffer anyway.
        const c = await open(s, ctx.small, ctx.smallProxy, WS[0]);
        await sendNumbered(c.tx, c.user, 200, (i) => { if (i === 20) ctx.smallProxy.cut(3000); });
        await withTimeout((async () => { while (c.events.closed === null) await sleep(50); })(), 15000, "onclose");
        const got = c.nums.items;
        assert.ok(got.length < 200, `not everything arrived (${got.length})`);
        assert.deepEqual(got, range(got.length), "what arrived is 1..k in order: no gap, no duplicate");
    });
});
