// Keep-alive and timeouts, with short server settings (--keep-alive-interval 500ms --client-timeout 2s).

import assert from "node:assert/strict";
import { after, before, describe } from "node:test";
import { MATRIX, itWith, sleep, withTimeout } from "./lib/client.mjs";
import { HeraldServer } from "./lib/server.mjs";

const ctx = { server: null };
const servers = () => ctx.server;
const it = (name, fn, opts) => itWith(name, servers, fn, opts);

before(async () => {
    ctx.server = await HeraldServer.start({ extraArgs: ["--keep-alive-interval", "500ms", "--client-timeout", "2s"] });
});
after(async () => {
    await ctx.server?.stop();
});

const pingers = ["WebSockets/json", "ServerSentEvents/json", "WebSockets/messagepack", "WebSockets/json/skipNegotiation"]
    .map((n) => MATRIX.find((p) => p.name === n));

describe("server keep-alive", () => {
    for (const pair of pingers) {
        it(`${pair.name}: an idle connection gets Pings and outlives the client's 2 s server timeout`, async (s) => {
            const c = await s.connect({
                url: ctx.server.hub("conformance"), pair, keepAliveMs: 500, serverTimeoutMs: 2000,
            });
            const t0 = Date.now();
            const pings = () => c.events.filter((e) => e.dir === "in" && e.msg.type === 6 && e.at >= t0).length;
            // Wait (on events) until 5 server Pings have come: about 2.5 s of idleness at 500 ms, longer than
            // the client's 2 s server timeout.
            await c.waitMessage(() => pings() >= 5, 10000, "5 Pings from the server");
            assert.equal(c.hub.state, "Connected");
            assert.equal(await withTimeout(c.hub.invoke("Echo", "awake"), 5000, "Echo"), "awake");
        });
    }
});

describe("client timeout", () => {
    for (const pair of [MATRIX[0], MATRIX[1]]) {
        it(`${pair.name}: a client that stops pinging is closed by the server`, async (s) => {
            const c = await s.connect({
                url: ctx.server.hub("conformance"), pair, keepAliveMs: 60000, serverTimeoutMs: 120000,
            });
            await withTimeout(c.closed, 10000, "the server to close a silent client (client timeout 2 s)");
        });
    }

    for (const pair of [MATRIX.find((p) => p.name === "LongPolling/json")]) {
        it(`${pair.name}: long polling is not subject to the client timeout (no pings on long polling)`, async (s) => {
            const c = await s.connect({ url: ctx.server.hub("conformance"), pair });
            await sleep(3000); // bounded: proving the 2 s client timeout does NOT close it
            assert.equal(c.hub.state, "Connected");
            assert.equal(await withTimeout(c.hub.invoke("Echo", "lp"), 5000, "Echo"), "lp");
        });
    }
});
