// Maximum receive message size: an oversized message closes only the connection that sent it, with an error.

import assert from "node:assert/strict";
import { after, before, describe } from "node:test";
import { MATRIX, itWith, newSecret, withTimeout } from "./lib/client.mjs";
import { HeraldServer } from "./lib/server.mjs";

const ctx = { server: null, small: null };

before(async () => {
    ctx.server = await HeraldServer.start({ jwtSecret: newSecret("limits") });
});
after(async () => {
    await Promise.all([ctx.server?.stop(), ctx.small?.stop()]);
});

describe("default 32 KB limit", () => {
    const servers = () => ctx.server;
    const it = (name, fn, opts) => itWith(name, servers, fn, opts);
    const url = () => ctx.server.hub("conformance");

    for (const pair of MATRIX) {
        it(`${pair.name}: a 40,000-character Echo closes that connection with an error; others keep working`, async (s) => {
            const bystander = await s.connect({ url: url(), pair, label: `${pair.name}#bystander` });
            const victim = await s.connect({ url: url(), pair, label: `${pair.name}#victim` });
            const big = "x".repeat(40000);
            const p = victim.hub.invoke("Echo", big);
            p.catch(() => {});
            const err = await withTimeout(victim.closed, 10000, "onclose of the connection that sent 40,000 characters");
            assert.ok(err instanceof Error, `onclose got ${err} instead of an Error`);
            s.note(`onclose error: ${err.message}`);
            await assert.rejects(withTimeout(p, 2000, "the oversized invocation to settle"));
            assert.equal(victim.hub.state, "Disconnected");

            assert.equal(await withTimeout(bystander.hub.invoke("Echo", "still fine"), 5000, "Echo on the bystander"), "still fine");
            const fresh = await s.connect({ url: url(), pair, label: `${pair.name}#fresh` });
            assert.equal(await withTimeout(fresh.hub.invoke("Echo", 1), 5000, "Echo on a new connection"), 1);
        });

        it(`${pair.name}: a 30,000-character Echo is under the limit and works`, async (s) => {
            const c = await s.connect({ url: url(), pair });
            const v = "y".repeat(30000);
            assert.equal(await withTimeout(c.hub.invoke("Echo", v), 10000, "Echo(30,000 chars)"), v);
            assert.equal(c.hub.state, "Connected");
        });
    }
});

describe("--max-message-size 2048", () => {
    const servers = () => ctx.small;
    const it = (name, fn, opts) => itWith(name, servers, fn, opts);
    before(async () => {
        ctx.small = await HeraldServer.start({ maxMessageSize: 2048 });
    });

    for (const pair of [MATRIX[0], MATRIX[4]]) {
        it(`${pair.name}: 1,000 characters work, 4,000 close the connection with an error`, async (s) => {
            const url = ctx.small.hub("conformance");
            const c = await s.connect({ url, pair });
            const ok = "z".repeat(1000);
            assert.equal(await withTimeout(c.hub.invoke("Echo", ok), 5000, "Echo(1,000)"), ok);
            c.hub.invoke("Echo", "z".repeat(4000)).catch(() => {});
            const err = await withTimeout(c.closed, 10000, "onclose after 4,000 characters");
            assert.ok(err instanceof Error, `onclose got ${err} instead of an Error`);
        });
    }
});
