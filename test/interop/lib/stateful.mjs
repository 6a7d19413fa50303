// Stateful reconnect scenarios shared by the one-node suite (stateful.test.mjs) and the cluster
// suite (cluster.test.mjs): numbered messages through a BlipProxy (lib/proxy.mjs) that resets.

import assert from "node:assert/strict";
import { MATRIX, Collector, mintToken, sleep, unique, withTimeout } from "./client.mjs";

/** WebSockets, json and messagepack, negotiated: the pairs stateful reconnect works on. */
export const WS = MATRIX.filter((p) => p.transport === 1 && !p.skipNegotiation);

/** A receiver through the proxy and a sender straight to the server. */
export async function open(s, { rxUrl, txUrl, secret, pair, stateful = true }) {
    const user = unique("sr-");
    const rx = s.build({
        url: rxUrl, pair, statefulReconnect: stateful,
        token: mintToken(secret, user), label: `${pair.name} receiver (via proxy)`,
    });
    const events = { reconnecting: 0, closed: null };
    rx.hub.onreconnecting(() => { events.reconnecting += 1; });
    rx.closed.then((e) => { events.closed = e ?? "closed"; });
    const nums = new Collector(rx, "num");
    await withTimeout(rx.hub.start(), 10000, "receiver start");
    const tx = s.build({ url: txUrl, pair: MATRIX[0], token: mintToken(secret, unique("tx-")), label: "sender" });
    await withTimeout(tx.hub.start(), 10000, "sender start");
    return { user, rx, tx, nums, events, id: rx.hub.connectionId };
}

/** Send 1..n to user, paced (about n/250 s), calling at(i) before message i. */
export async function sendNumbered(tx, user, n, at = () => {}) {
    for (let i = 1; i <= n; i++) {
        await at(i);
        await tx.hub.send("SendToUser", user, "num", i);
        if (i % 5 === 0) await sleep(20);
    }
    // The sender's invocations run in order: one more round trip and every send has been made.
    await tx.hub.invoke("WhoAmI");
}

export const range = (n) => Array.from({ length: n }, (_, i) => i + 1);


/**
 * 1,000 numbered messages to a receiver through proxy, which resets at messages 200 and 750 and
 * holds the client's reconnects 1.5 s and 1 s, while the receiver sends 200 numbered messages to a
 * sink: each side gets every message once, in order, on one connection that never closed.
 */
export async function numberedAcrossBlips(s, { proxy, rxUrl, txUrl, secret, pair }) {
    const c = await open(s, { rxUrl, txUrl, secret, pair });
    // The client sends too, through the blips: the server drops what it resends twice.
    const sink = s.build({ url: txUrl, pair: MATRIX[0], token: mintToken(secret, unique("sink-")), label: "sink" });
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
    return c;
}
