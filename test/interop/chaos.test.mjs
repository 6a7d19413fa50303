// Chaos: the cluster (3 nodes, a worker, Redis, PostgreSQL) with faults everywhere while users run
// exports and receive streams. Between the clients and the nodes a proxy of its own (round robin,
// resets and holds, latency); between the herald processes and Redis, and PostgreSQL, the runner's
// fault proxies (--faults: resets and holds, latency). Bounded: HERALD_CHAOS_USERS users (200) for
// HERALD_CHAOS_SECONDS (40) of faults. At the end:
//   - no task lost: every export succeeded;
//   - exactly one notification per finished task, in the inbox and on the user's page (live, or
//     through Missed after a reconnect), and the page holds its user's whole feed;
//   - nothing reached a wrong user;
//   - every stream on a stateful connection either completed with all its items once and in order,
//     or failed visibly (its connection could not resume): never a gap or a duplicate;
//   - the nodes' goroutines and heap (in use after a GC) come back near where they started.

import assert from "node:assert/strict";
import { Collector, hfetch, sleep, unique, withTimeout } from "./lib/client.mjs";
import { PAIRS, clusterSuite, ctx, info, it, settle, tell, token, waitUntil } from "./lib/cluster.mjs";
import { BlipProxy } from "./lib/proxy.mjs";

const USERS = Number(process.env.HERALD_CHAOS_USERS ?? 200);
const SECONDS = Number(process.env.HERALD_CHAOS_SECONDS ?? 40);
// make soak: the same for 30 minutes, a line of figures every REPORT_EVERY.
const REPORT_EVERY = Number(process.env.HERALD_CHAOS_REPORT_SECONDS ?? 60) * 1000;
const STREAM = 40; // items per stream, 25 ms apart: a stream lasts about a second
const WS = PAIRS[0]; // WebSockets/json: stateful reconnect works on WebSockets
// Each connection keeps about its last KEEP (500) log lines and messages: kept whole, 400 connections'
// records filled the test process's 4 GB heap after 15 minutes of soak, and its garbage collector
// then stalled it long enough for the stream connections to give up reconnecting.
const KEEP = 500;

// The official JS client (10.0.11) leaves a failed resume's socket open and lets it feed the next
// connection's handshake, then leaves that handshake's rejection unhandled (see repro-handshake.mjs
// and the README's Guarantees); node:test would fail the run on it. That one client fault is counted
// and reported, and the connection that hit it must still reconnect for the checks below. Every
// other unhandled rejection goes to node:test's own handlers as before.
const CLIENT_HANDSHAKE_BUG = /Expected a handshake response from the server/;
let clientHandshakeBug = 0;
function tolerateClientHandshakeBug() {
    const prior = process.listeners("unhandledRejection");
    process.removeAllListeners("unhandledRejection");
    process.on("unhandledRejection", (e, p) => {
        if (CLIENT_HANDSHAKE_BUG.test(String(e?.message ?? e))) { clientHandshakeBug++; return; }
        if (prior.length === 0) throw e;
        for (const l of prior) l(e, p);
    });
}

/** A node's goroutines and its heap in use right after a garbage collection (pprof's heap profile
 * with gc=1 runs one first; RSS would not say: the Go runtime returns memory to the system lazily). */
async function stats(i) {
    const text = await (await fetch(`${info().pprof[i]}/debug/pprof/heap?gc=1&debug=1`, { signal: AbortSignal.timeout(5000) })).text();
    const heap = Number(/^# HeapInuse = (\d+)$/m.exec(text)?.[1] ?? NaN);
    const g = await (await fetch(`${info().nodes[i]}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
    return { goroutines: Number(/^go_goroutines (\S+)$/m.exec(g)?.[1] ?? NaN), heap };
}

/** POST with retries: a node may answer 5xx while PostgreSQL or Redis is cut. */
async function postRetry(url, body, tok, what) {
    for (let i = 0; ; i++) {
        try {
            const r = await fetch(url, {
                method: "POST", signal: AbortSignal.timeout(10000),
                headers: { Authorization: `Bearer ${tok}`, "Content-Type": "application/json" }, body,
            });
            if (r.status < 500) return r;
        } catch { /* a reset: try again */ }
        if (i >= 30) throw new Error(`${what}: still failing after ${i + 1} tries`);
        await sleep(300);
    }
}

await clusterSuite("chaos.test.mjs", ["--faults"], () => {
    it(`${USERS} users run exports and streams for ${SECONDS} s of latency, resets and cuts between clients, nodes, Redis and PostgreSQL: nothing lost, doubled or misdelivered`, async (s, t) => {
        tolerateClientHandshakeBug(); // node:test's handlers are in place once a test runs
        const nodes = info().nodes;
        await settle(nodes, "notifications");
        const proxy = await BlipProxy.start(nodes.map(BlipProxy.target));
        assert.equal(info().pprof?.length, nodes.length, "the runner gives each node a pprof address");
        const base = await Promise.all(nodes.map((_, i) => stats(i)));
        const wrong = [];
        const users = [];
        try {
            // Pages: the notifications hub with Herald's web client logic (seq, Missed), and a
            // conformance connection whose streams check stateful reconnect end to end.
            for (let i = 0; i < USERS; i++) {
                const user = unique(`chaos${i}-`);
                const u = { user, seen: new Map(), recovered: 0, streams: { ok: 0, failed: 0, broken: [] }, stop: false };
                const apply = (target, arg) => {
                    if (arg?.owner !== user) wrong.push(`${target} for ${arg?.owner} on ${user}'s page`);
                    if (arg?.seq > 0 && !u.seen.has(arg.seq)) u.seen.set(arg.seq, { target, arg });
                };
                u.page = s.build({
                    url: `${proxy.url}/hubs/notifications`, pair: WS, statefulReconnect: true,
                    reconnectForever: true, token: token(user), label: `page ${i}`, keep: KEEP,
                });
                u.page.hub.on("taskUpdated", (a) => apply("taskUpdated", a));
                u.page.hub.on("notification", (a) => apply("notification", a));
                u.page.hub.onreconnected(async () => {
                    try {
                        const m = await u.page.hub.invoke("Missed", Math.max(0, ...u.seen.keys()));
                        for (const x of m.messages) { u.recovered++; apply(x.target, x.arg); }
                    } catch { /* the next reconnect or the final check catches up */ }
                });
                u.conf = s.build({ url: `${proxy.url}/hubs/conformance`, pair: WS, statefulReconnect: true, reconnectForever: true, token: token(user), label: `streams ${i}`, keep: KEEP });
                users.push(u);
            }
            const start = async (c) => {
                for (let k = 0; ; k++) {
                    try { return await withTimeout(c.hub.start(), 15000, `${c.label} start`); } catch (e) {
                        if (k >= 5) throw e;
                        await sleep(200);
                    }
                }
            };
            for (let i = 0; i < users.length; i += 25) {
                await Promise.all(users.slice(i, i + 25).flatMap((u) => [start(u.page), start(u.conf)]));
            }
            tell(s, t, `${users.length * 2} connections open`);

            // Streams: each user runs one after another until the faults end; their durations are
            // the latency figure of the soak's report.
            let durations = [];
            const runStreams = async (u) => {
                while (!u.stop) {
                    const began = Date.now();
                    if (u.conf.hub.state !== "Connected") { await sleep(200); continue; }
                    const items = [];
                    const outcome = await new Promise((resolve) => {
                        u.conf.hub.stream("Count", STREAM, 25).subscribe({
                            next: (v) => items.push(v),
                            complete: () => resolve("complete"),
                            error: () => resolve("error"),
                        });
                    });
                    durations.push(Date.now() - began);
                    const inOrder = items.every((v, k) => v === k);
                    if (outcome === "complete" && (items.length !== STREAM || !inOrder)) u.streams.broken.push(items.join(","));
                    else if (outcome === "error" && !inOrder) u.streams.broken.push(`error after ${items.join(",")}`);
                    else if (outcome === "complete") u.streams.ok++;
                    else u.streams.failed++;
                }
            };
            const streaming = users.map(runStreams);

            // Exports: one per user, through the load balancer (not faulted), retried on 5xx.
            const tasks = await Promise.all(users.map(async (u) => {
                const r = await postRetry(`${info().lb}/api/exports`, JSON.stringify({ dataset: "orders", format: "csv" }), token(u.user), `export of ${u.user}`);
                const task = await r.json();
                assert.equal(r.status, 202, `POST /api/exports for ${u.user}: ${JSON.stringify(task)}`);
                u.task = task.id;
                return task.id;
            }));
            tell(s, t, `${tasks.length} exports queued`);

            // Faults.
            const actions = [
                ["client proxy: reset, hold 1 s", async () => proxy.cut(1000)],
                ["client proxy: latency 50 ms for 2 s", async () => { proxy.latencyMs = 50; await sleep(2000); proxy.latencyMs = 0; }],
                ["Redis: reset, hold 300 ms", () => ctx.runner.control("/faults/redis/cut?ms=300")],
                ["Redis: latency 30 ms for 2 s", async () => { await ctx.runner.control("/faults/redis/latency?ms=30"); await sleep(2000); await ctx.runner.control("/faults/redis/latency?ms=0"); }],
                ["PostgreSQL: reset, hold 300 ms", () => ctx.runner.control("/faults/postgres/cut?ms=300")],
                ["PostgreSQL: latency 30 ms for 2 s", async () => { await ctx.runner.control("/faults/postgres/latency?ms=30"); await sleep(2000); await ctx.runner.control("/faults/postgres/latency?ms=0"); }],
            ];
            const done = [];
            const t0 = Date.now();
            const report = setInterval(async () => {
                const d = durations.sort((a, b) => a - b);
                durations = [];
                const p = (q) => d[Math.min(d.length - 1, Math.floor(q * d.length))] ?? NaN;
                const per = await Promise.all(nodes.map(async (url) => {
                    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(3000) })).text().catch(() => "");
                    const get = (name) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
                    return `rss ${(get("process_resident_memory_bytes") / 2 ** 20).toFixed(0)} MiB, ${get("go_goroutines")} goroutines, ${get("process_open_fds")} fds`;
                }).map((x) => x.catch((e) => String(e))));
                process.stdout.write(`[soak ${((Date.now() - t0) / 60000).toFixed(1)} min] streams ${d.length}, duration p50 ${p(0.5)} ms p99 ${p(0.99)} ms (${STREAM} items, ${STREAM * 25} ms unhurried); client handshake faults ${clientHandshakeBug}; connected: ${users.filter((u) => u.page.hub.state === "Connected").length} pages, ${users.filter((u) => u.conf.hub.state === "Connected").length} stream connections of ${users.length}; test process heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB; ${per.map((x, i) => `node${i}: ${x}`).join("; ")}\n`);
            }, REPORT_EVERY);
            for (let k = 0; Date.now() - t0 < SECONDS * 1000; k++) {
                const [name, act] = actions[k % actions.length];
                await act();
                done.push(name);
                await sleep(1500);
            }
            clearInterval(report);
            tell(s, t, `faults done (${done.length}): ${done.join("; ")}`);
            for (const u of users) u.stop = true;
            await Promise.all(streaming);

            // Every export ends, succeeded (no task lost).
            let states = [];
            await waitUntil(async () => {
                states = await Promise.all(users.map(async (u) => {
                    const r = await fetch(`${info().lb}/api/tasks/${u.task}`, { headers: { Authorization: `Bearer ${token(u.user)}` } }).catch(() => null);
                    return r?.ok ? r.json() : { id: u.task, state: "?" };
                }));
                return states.every((st) => st.state === "succeeded");
            }, 90000, "every export to succeed").catch((e) => {
                const by = {};
                for (const st of states) by[st.state] = (by[st.state] ?? 0) + 1;
                const odd = states.filter((st) => st.state !== "succeeded").slice(0, 5);
                throw new Error(`${e.message}: ${JSON.stringify(by)}; e.g. ${JSON.stringify(odd)}`);
            });

            // Every page is connected again and catches up with its feed.
            // Both connections of every user retry without end, as the web app does: each must be back.
            await waitUntil(async () => users.every((u) => u.page.hub.state === "Connected" && u.conf.hub.state === "Connected"), 30000,
                "every page and stream connection to be connected").catch((e) => {
                const down = users.filter((u) => u.page.hub.state !== "Connected" || u.conf.hub.state !== "Connected");
                throw new Error(`${e.message}: ${down.length} users not, e.g. ${down.slice(0, 2).map((u) => `${u.page.dump(20)}\n${u.conf.dump(20)}`).join("\n")}`);
            });
            let incomplete = 0;
            for (const u of users) {
                const m = await u.page.hub.invoke("Missed", 0);
                if (!m.complete) incomplete++;
                for (const x of m.messages) {
                    if (x.arg?.owner !== u.user) wrong.push(`Missed gave ${u.user} a message of ${x.arg?.owner}`);
                    if (!u.seen.has(x.seq)) { u.recovered++; u.seen.set(x.seq, { target: x.target, arg: x.arg }); }
                }
                const notes = [...u.seen.values()].filter((e) => e.target === "notification" && e.arg.taskId === u.task);
                assert.equal(notes.length, 1, `${u.user}'s page shows one notification for its export (got ${notes.length})`);
                const r = await hfetch(`${info().lb}/api/notifications`, { headers: { Authorization: `Bearer ${token(u.user)}` } });
                const inbox = (await r.json()).notifications.filter((n) => n.taskId === u.task);
                assert.equal(inbox.length, 1, `${u.user}'s inbox has one notification for its export`);
            }
            assert.deepEqual(wrong, [], "no message reached a wrong user");
            assert.equal(incomplete, 0, "every user's feed reached back to its start");

            const streams = users.reduce((a, u) => ({ ok: a.ok + u.streams.ok, failed: a.failed + u.streams.failed, broken: [...a.broken, ...u.streams.broken] }), { ok: 0, failed: 0, broken: [] });
            const recovered = users.reduce((a, u) => a + u.recovered, 0);
            tell(s, t, `streams: ${streams.ok} complete, ${streams.failed} failed visibly; page messages recovered through Missed: ${recovered}; proxy resets ${proxy.cuts}; the official client's handshake fault (see above) ${clientHandshakeBug} times`);
            assert.deepEqual(streams.broken.slice(0, 5), [], `no stream had a gap or a duplicate (${streams.broken.length} did)`);
            assert.ok(streams.ok > users.length, "streams ran through the faults");
        } finally {
            for (const u of users) u.stop = true;
            await proxy.stop();
            await s.close();
        }

        // The nodes let go of what the connections held.
        let last;
        await waitUntil(async () => {
            last = await Promise.all(nodes.map((_, i) => stats(i)));
            return last.every((st, i) => st.goroutines <= base[i].goroutines + 30 && st.heap <= base[i].heap * 1.5 + 12 * 1024 * 1024);
        }, 30000, "goroutines and heap back near their start").catch((e) => {
            throw new Error(`${e.message}: before ${JSON.stringify(base)}, after ${JSON.stringify(last)}`);
        });
        tell(s, t, `nodes before ${JSON.stringify(base)}, after ${JSON.stringify(last)}`);
    }, { timeout: 400000 + SECONDS * 1000 });
});
