// Automatic reconnect across a server restart: SIGTERM drains (Close with allowReconnect: true, exit 0), the
// server comes back on the same port, and every client reconnects by itself.

import assert from "node:assert/strict";
import { after, before, describe } from "node:test";
import {
    MATRIX, buildConnection, deferred, itWith, mintToken, newSecret, unique, withTimeout,
} from "./lib/client.mjs";
import { HeraldServer, freePort } from "./lib/server.mjs";

const SECRET = newSecret("reconnect");
const DELAYS = [0, 200, 500, ...Array(40).fill(1000)];
const ctx = { server: null, clients: [] };
const servers = () => ctx.server;

before(async () => {
    const port = await freePort();
    ctx.server = await HeraldServer.start({ port, jwtSecret: SECRET });
});
after(async () => {
    await Promise.allSettled(ctx.clients.map((c) => withTimeout(c.conn.hub.stop(), 5000, "stop")));
    await ctx.server?.stop();
});

/** itWith, but failures also dump the long-lived clients of this suite. */
function it(name, fn, opts) {
    return itWith(name, servers, async (s, t) => {
        try {
            await fn(s, t);
        } catch (e) {
            for (const c of ctx.clients) s.conns.includes(c.conn) || s.conns.push(c.conn);
            throw e;
        }
    }, opts);
}

describe("restart with SIGTERM", () => {
    it("clients on every transport connect with automatic reconnect", async () => {
        for (const pair of MATRIX) {
            const user = unique("re-");
            const conn = buildConnection({
                url: ctx.server.hub("conformance"), pair, reconnectDelays: DELAYS,
                accessTokenFactory: () => mintToken(SECRET, user), label: `${pair.name} (reconnect)`,
            });
            const c = { pair, user, conn, reconnecting: deferred(), reconnected: deferred(), closedEarly: null };
            conn.hub.onreconnecting((e) => c.reconnecting.resolve(e));
            conn.hub.onreconnected((id) => c.reconnected.resolve(id));
            conn.closed.then((e) => { c.closedEarly = e ?? "closed without error"; c.reconnected.reject(new Error(`onclose fired: ${e}`)); });
            c.reconnected.promise.catch(() => {});
            ctx.clients.push(c);
            await withTimeout(conn.hub.start(), 15000, `start() ${pair.name}`);
            c.firstId = (await withTimeout(conn.hub.invoke("WhoAmI"), 5000, "WhoAmI")).connectionId;
        }
    });

    it("SIGTERM: the server exits 0 after draining", async () => {
        assert.equal(ctx.clients.length, MATRIX.length, "the connect test did not finish");
        const t0 = Date.now();
        const exit = await ctx.server.stop("SIGTERM", 20000);
        assert.deepEqual(exit, { code: 0, signal: null }, `exit after SIGTERM: ${JSON.stringify(exit)} after ${Date.now() - t0} ms`);
    });

    for (const pair of MATRIX) {
        it(`${pair.name}: got Close{allowReconnect: true} and onreconnecting`, async () => {
            const c = ctx.clients.find((x) => x.pair === pair);
            assert.ok(c, "no client");
            const close = await c.conn.waitMessage((e) => e.dir === "in" && e.msg.type === 7, 5000, "Close message");
            assert.equal(close.msg.allowReconnect, true, `Close message: ${JSON.stringify(close.msg)}`);
            await withTimeout(c.reconnecting.promise, 5000, "onreconnecting");
        });
    }

    it("the server starts again on the same port", async () => {
        await ctx.server.launch();
    });

    for (const pair of MATRIX) {
        it(`${pair.name}: onreconnected fires and the connection works again`, async () => {
            const c = ctx.clients.find((x) => x.pair === pair);
            assert.ok(c, "no client");
            const newId = await withTimeout(c.reconnected.promise, 20000, "onreconnected");
            assert.equal(c.closedEarly, null, `onclose fired: ${c.closedEarly}`);
            assert.equal(c.conn.hub.state, "Connected");
            assert.equal(await withTimeout(c.conn.hub.invoke("Echo", "back"), 5000, "Echo after reconnect"), "back");
            const me = await withTimeout(c.conn.hub.invoke("WhoAmI"), 5000, "WhoAmI after reconnect");
            assert.equal(me.userId, c.user);
            assert.notEqual(me.connectionId, c.firstId, "a reconnect must be a new connection");
            if (!pair.skipNegotiation) assert.equal(newId, me.connectionId);
        });
    }
});
