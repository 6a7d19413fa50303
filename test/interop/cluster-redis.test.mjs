// The cluster, part 2: Redis stopped, started and restarted under connected clients, and a task run
// by the worker process reaching its owner live through the backplane (see lib/cluster.mjs and
// test/cluster/README.md).

import assert from "node:assert/strict";
import { Collector, hfetch, sleep, unique, withTimeout } from "./lib/client.mjs";
import {
    PAIRS, assertExactlyOnce, clusterSuite, ctx, deliverAgain, distinctNodes, info, it, openPlaced, readyz, settle,
    tell, token, waitUntil,
} from "./lib/cluster.mjs";

// 300,000 demo orders: an export of them runs for a second or more, long enough to kill a node
// in the middle of it.
await clusterSuite("cluster-redis.test.mjs", ["--demo-rows", "300000"], () => {
    it("Redis stopped: every node's /readyz says degraded (200); started again: ready", async (s, t) => {
        const nodes = info().nodes;
        for (const n of nodes) assert.equal((await readyz(n)).body?.status, "ready", `${n}/readyz before`);
        await ctx.runner.control("/redis/stop");
        const t0 = Date.now();
        try {
            let last;
            await waitUntil(async () => {
                last = await Promise.all(nodes.map(readyz));
                return last.every((r) => r.http === 200 && r.body?.status === "degraded");
            }, 10000, "every node's /readyz to say degraded").catch((e) => {
                throw new Error(`${e.message}; last answers: ${JSON.stringify(last)}`);
            });
            tell(s, t, `degraded on every node after ${Date.now() - t0} ms: ${JSON.stringify(last)}`);
        } finally {
            await ctx.runner.control("/redis/start");
        }
        const t1 = Date.now();
        let last;
        await waitUntil(async () => {
            last = await Promise.all(nodes.map(readyz));
            return last.every((r) => r.http === 200 && r.body?.status === "ready");
        }, 10000, "every node's /readyz to say ready again").catch((e) => {
            throw new Error(`${e.message}; last answers: ${JSON.stringify(last)}`);
        });
        tell(s, t, `ready again on every node ${Date.now() - t1} ms after Redis started`);
    });

    it("Redis restarted while clients are connected: within 5 s SendToUser reaches every node again", async (s, t) => {
        await settle(info().nodes);
        const user = unique("redis-");
        const conns = await openPlaced(s, {
            lb: info().lb, nodes: info().nodes, want: PAIRS.length, cover: (cs) => distinctNodes(cs) === info().nodes.length,
            make: (i) => ({ pair: PAIRS[i % PAIRS.length], token: token(user), label: `${PAIRS[i % PAIRS.length].name} #${i}` }),
        });
        assert.equal(distinctNodes(conns), info().nodes.length, "connections on every node");
        const [sender] = await openPlaced(s, { lb: info().lb, nodes: info().nodes, want: 1, make: () => ({ pair: PAIRS[0], token: token(unique("sender-")), label: "sender" }) });
        const m = unique("afterRestart");
        const cols = conns.map((c) => new Collector(c, m));
        const before = await deliverAgain(s, sender, user, cols, m, 5000);
        tell(s, t, `before the restart: delivered in ${before.ms} ms`);

        const restart = await ctx.runner.control("/redis/restart");
        tell(s, t, `Redis restarted in ${restart.ms} ms`);
        const again = await deliverAgain(s, sender, user, cols, m, 5000);
        tell(s, t, `cross-node delivery back ${again.ms} ms after Redis was back (${again.rounds} rounds)`);
        for (const c of [...conns, sender]) assert.equal(c.hub.state, "Connected", `${c.label} stays connected through a Redis restart`);

        const fin = unique("final");
        const finCols = conns.map((c) => new Collector(c, fin));
        await withTimeout(sender.hub.invoke("SendToUser", user, fin, "x"), 5000, "final SendToUser");
        for (const col of finCols) assert.equal(await col.next(5000), "x");
        await assertExactlyOnce(sender, [...conns, sender], finCols, []);
    });

    it("an export run by the worker process pushes taskUpdated and notification live to its owner on every node", async (s) => {
        assert.ok(info().worker, "the runner started a worker");
        const nodes = info().nodes;
        await settle(nodes, "notifications");
        const owner = unique("owner-");
        const stranger = unique("stranger-");
        const conns = await openPlaced(s, {
            lb: info().lb, nodes, hub: "notifications", want: 3, cover: (cs) => distinctNodes(cs) >= 2,
            make: (i) => ({ pair: PAIRS[i % PAIRS.length], token: token(owner), label: `notifications ${PAIRS[i % PAIRS.length].name} #${i}` }),
        });
        const [other] = await openPlaced(s, { lb: info().lb, nodes, hub: "notifications", want: 1, make: () => ({ pair: PAIRS[0], token: token(stranger), label: "stranger" }) });
        const updates = conns.map((c) => new Collector(c, "taskUpdated"));
        const notes = conns.map((c) => new Collector(c, "notification"));
        const otherUpdates = new Collector(other, "taskUpdated");
        const otherNotes = new Collector(other, "notification");

        const r = await hfetch(`${info().lb}/api/exports`, {
            method: "POST",
            headers: { Authorization: `Bearer ${token(owner)}`, "Content-Type": "application/json" },
            body: JSON.stringify({ dataset: "orders", format: "csv", compression: "none" }),
        });
        const task = await r.json();
        assert.equal(r.status, 202, `POST /api/exports: ${JSON.stringify(task)}`);

        for (const [k, c] of conns.entries()) {
            const deadline = Date.now() + 20000;
            let last;
            for (;;) {
                last = await updates[k].next(Math.max(1, deadline - Date.now()));
                assert.equal(last.id, task.id, `taskUpdated on ${c.label} is about the task`);
                if (["succeeded", "failed", "cancelled"].includes(last.state)) break;
            }
            assert.equal(last.state, "succeeded", `final taskUpdated on ${c.label}: ${JSON.stringify(last)}`);
            const n = await notes[k].next(20000);
            assert.equal(n.taskId, task.id, `notification on ${c.label}: ${JSON.stringify(n)}`);
            assert.match(n.link ?? "", /^\/api\/downloads\//, `notification link on ${c.label}`);
        }
        s.note(`[test] taskUpdated states per connection: ${updates.map((u) => u.items.map((t) => t.state).join(">")).join(" | ")}`);

        const t = await (await hfetch(`${info().lb}/api/tasks/${task.id}`, { headers: { Authorization: `Bearer ${token(owner)}` } })).json();
        assert.equal(t.state, "succeeded");
        // The file is in the shared storage: any node serves the signed link.
        for (let i = 0; i < nodes.length; i++) {
            const d = await hfetch(`${info().lb}${t.result.downloadUrl}`);
            assert.equal(d.status, 200, "download through the load balancer");
            const text = await d.text();
            assert.ok(text.startsWith("id,"), `a CSV with its header: ${text.slice(0, 80)}`);
        }
        await sleep(300);
        assert.deepEqual(otherUpdates.items, [], "another user gets no taskUpdated");
        assert.deepEqual(otherNotes.items, [], "another user gets no notification");
        for (const col of notes) assert.equal(col.items.length, 1, `${col.label}: exactly one notification`);
    });

    it("a page whose node is killed while its export runs ends with every update and exactly one notification (Missed after the reconnect)", async (s, t) => {
        const nodes = info().nodes;
        await settle(nodes, "notifications");
        const owner = unique("feed-");
        // Offline 2 s after the kill: the export goes on meanwhile (the worker runs it), and what it
        // sends then reaches no page of the owner.
        const [page] = await openPlaced(s, {
            lb: info().lb, nodes, hub: "notifications", want: 1,
            make: () => ({ pair: PAIRS[0], token: token(owner), reconnectDelays: [2000, 1000, 1000, 1000], label: "page" }),
        });
        assert.ok(page.node >= 0, "the page's node is known");
        // What Herald's web client does: keep every message by seq, and after a reconnect ask for
        // what came after the last one seen.
        const seen = new Map();
        let recovered = 0;
        const apply = (target, arg, how) => {
            if (!(arg?.seq > 0) || seen.has(arg.seq)) return;
            seen.set(arg.seq, { target, arg, how });
            if (how === "missed") recovered += 1;
        };
        page.hub.on("taskUpdated", (a) => apply("taskUpdated", a, "live"));
        page.hub.on("notification", (a) => apply("notification", a, "live"));
        const reconnected = new Promise((resolve) => page.hub.onreconnected(async () => {
            const last = Math.max(0, ...seen.keys());
            const m = await page.hub.invoke("Missed", last);
            for (const msg of m.messages) apply(msg.target, msg.arg, "missed");
            resolve(m);
        }));

        const r = await hfetch(`${info().lb}/api/exports`, {
            method: "POST",
            headers: { Authorization: `Bearer ${token(owner)}`, "Content-Type": "application/json" },
            body: JSON.stringify({ dataset: "orders", format: "csv", compression: "none" }),
        });
        const task = await r.json();
        assert.equal(r.status, 202, `POST /api/exports: ${JSON.stringify(task)}`);
        // Killed once the export runs: what it sends from then on reaches no page of the owner for
        // the 2 s before the page's reconnect.
        await waitUntil(async () => [...seen.values()].some((e) => e.arg.state === "running"), 10000, "the export to run");
        const killed = await ctx.runner.control(`/nodes/${page.node}/kill`);
        tell(s, t, `killed node ${page.node} after ${seen.size} live message(s): ${JSON.stringify(killed)}`);
        try {
            const m = await withTimeout(reconnected, 20000, "the page to reconnect and call Missed");
            tell(s, t, `Missed after reconnecting: complete=${m.complete} last=${m.last} ${m.messages.length} message(s)`);
            assert.equal(m.complete, true, "the feed reached back to the last seq seen");
            // The export finishes; whatever comes after the reconnect arrives live.
            await waitUntil(async () => {
                const tt = await (await hfetch(`${info().lb}/api/tasks/${task.id}`, { headers: { Authorization: `Bearer ${token(owner)}` } })).json();
                return tt.state === "succeeded";
            }, 20000, "the export to succeed");
            await waitUntil(async () => [...seen.values()].some((e) => e.target === "notification"), 5000, "the notification");
            await sleep(300);
            const feed = await page.hub.invoke("Missed", 0);
            assert.equal(feed.complete, true);
            assert.deepEqual([...seen.keys()].sort((a, b) => a - b), feed.messages.map((x) => x.seq),
                "the page holds every message of the owner's feed, each once");
            assert.ok(recovered >= 1, `some messages came only through Missed (${recovered}); else the test proved nothing`);
            const updates = [...seen.values()].filter((e) => e.target === "taskUpdated").sort((a, b) => a.arg.seq - b.arg.seq);
            assert.equal(updates.at(-1).arg.state, "succeeded", "the page's last taskUpdated is the final state");
            const notes = [...seen.values()].filter((e) => e.target === "notification" && e.arg.taskId === task.id);
            assert.equal(notes.length, 1, "exactly one notification (one toast)");
        } finally {
            await ctx.runner.control(`/nodes/${page.node}/start`);
        }
    });
});
