// Stateful reconnect with the official client (withStatefulReconnect) on WebSockets, through a proxy
// that resets the TCP connection while the server sends 1,000 numbered messages and holds the
// client's reconnect for a while: every message arrives once, in order, on the same connection.

import assert from "node:assert/strict";
import { after, before, describe } from "node:test";
import { itWith, newSecret, sleep, withTimeout } from "./lib/client.mjs";
import { BlipProxy } from "./lib/proxy.mjs";
import { WS, numberedAcrossBlips, open, range, sendNumbered } from "./lib/stateful.mjs";
import { HeraldServer, freePort } from "./lib/server.mjs";

const SECRET = newSecret("stateful");
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

describe("stateful reconnect on one node", () => {
    for (const pair of WS) {
        it(`${pair.name}: 1,000 messages across two resets (held 1.5 s and 1 s) arrive once, in order, on one connection`, async (s) => {
            const proxy = ctx.serverProxy;
            await numberedAcrossBlips(s, { proxy, rxUrl: `${proxy.url}/hubs/conformance`, txUrl: ctx.server.hub("conformance"), secret: SECRET, pair });
        });
    }

    it("without stateful reconnect the same blip loses the messages sent meanwhile (the baseline)", async (s) => {
        const c = await open(s, { rxUrl: `${ctx.plainProxy.url}/hubs/conformance`, txUrl: ctx.plain.hub("conformance"), secret: SECRET, pair: WS[0] });
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
        const c = await open(s, { rxUrl: `${ctx.smallProxy.url}/hubs/conformance`, txUrl: ctx.small.hub("conformance"), secret: SECRET, pair: WS[0] });
        await sendNumbered(c.tx, c.user, 200, (i) => { if (i === 20) ctx.smallProxy.cut(3000); });
        await withTimeout((async () => { while (c.events.closed === null) await sleep(50); })(), 15000, "onclose");
        const got = c.nums.items;
        assert.ok(got.length < 200, `not everything arrived (${got.length})`);
        assert.deepEqual(got, range(got.length), "what arrived is 1..k in order: no gap, no duplicate");
    });
});
