// The cluster suites (cluster*.test.mjs): a Herald cluster driven with the official client through a
// load balancer. The runner test/cluster/cmd/herald-cluster (built once per file) starts its own Redis,
// 3 `herald serve` nodes, a `herald worker` and nginx in front of the nodes (round robin, no
// affinity), optionally a second environment of 2 nodes on the same Redis; clients talk ONLY to nginx.
// Each node's /metrics (herald_hub_connections) tells which node holds a connection, so that senders
// and receivers are chosen on different nodes. Each file starts its own cluster: the runner's
// per-file timeout (npm test: 60 s) would not hold them all in one.
//
// Needs Go, nginx, redis-server and PostgreSQL (postgres@127.0.0.1:5432/test, or
// HERALD_CLUSTER_DATABASE). Without them the suites skip loudly, and fail under CI=true.
// HERALD_CLUSTER_ARGS adds flags to the runner (e.g. "--no-redis", to see the suites fail against
// nodes that are not a cluster; "--keep" to keep its logs).

import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { connect } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import {
    Collector, MATRIX, Scope, deferred, hfetch, itWith, mintToken, signalR, sleep, unique, withTimeout,
} from "./client.mjs";
import { assertNotReceived } from "./hubtests.mjs";
import { HERALD_BIN, makeTempDir } from "./server.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, "..", "..", "..");
/** The pairs the other suites use (skipNegotiation needs no load balancer test of its own). */
export const PAIRS = MATRIX.filter((p) => !p.skipNegotiation);
export const RECONNECT = [0, 500, 1000, 2000];
/** The PostgreSQL database the cluster's schemas go into (the runner's --database). */
export const DATABASE = process.env.HERALD_CLUSTER_DATABASE ?? "postgres://postgres@127.0.0.1:5432/test";

// ------------------------------------------------------------------------------------- prerequisites

function onPath(name, usual) {
    if (usual && existsSync(usual)) return usual;
    for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
        const p = path.join(dir, name);
        try {
            if (statSync(p).isFile()) return p;
        } catch { /* not there */ }
    }
    return null;
}

function tcpOpen(host, port, ms = 2000) {
    return new Promise((resolve) => {
        const s = connect({ host, port });
        const done = (ok) => { s.destroy(); resolve(ok); };
        s.setTimeout(ms, () => done(false));
        s.on("connect", () => done(true));
        s.on("error", () => done(false));
    });
}

async function missingPrerequisites() {
    const missing = [];
    if (spawnSync("go", ["version"], { stdio: "ignore" }).status !== 0) missing.push("go (to build the cluster runner)");
    if (!onPath("nginx", "/usr/sbin/nginx")) missing.push("nginx (apt-get install nginx)");
    if (!onPath("redis-server", "/usr/bin/redis-server")) missing.push("redis-server (apt-get install redis-server)");
    const pg = new URL(DATABASE);
    if (!(await tcpOpen(pg.hostname, Number(pg.port || 5432)))) missing.push(`PostgreSQL at ${pg.host} (${pg.username}, trust, database ${pg.pathname.slice(1)})`);
    return missing;
}

// ------------------------------------------------------------------------------------------- runner

/** The herald-cluster runner process and what it printed. */
export class ClusterRunner {
    constructor() {
        this.log = [];
        this.alarms = []; // lines where a herald process reported a data race, a panic or a fatal error
        this.proc = null;
        this.info = null;
        this.exit = null;
    }

    static async start(args) {
        const r = new ClusterRunner();
        await r.launch(args);
        return r;
    }

    async launch(args) {
        const dir = makeTempDir("herald-cluster-runner-");
        const bin = path.join(dir, "herald-cluster");
        const t0 = Date.now();
        try {
            execFileSync("go", ["build", "-o", bin, "./test/cluster/cmd/herald-cluster"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
        } catch (e) {
            throw new Error(`go build ./test/cluster/cmd/herald-cluster failed:\n${e.stderr ?? e}`);
        }
        this.log.push(`[test] built the runner in ${Date.now() - t0} ms; starting ${bin} ${args.join(" ")} (HERALD_BIN=${HERALD_BIN})`);
        // stdin stays open: the runner stops everything when it ends (also when this process dies).
        const p = spawn(bin, args, { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, HERALD_BIN } });
        this.proc = p;
        let resolveExit;
        this.exit = new Promise((res) => { resolveExit = res; });
        process.on("exit", () => { try { p.kill("SIGTERM"); } catch { /* gone */ } });
        const ready = deferred();
        let out = "";
        p.stdout.on("data", (d) => {
            out += d;
            const i = out.indexOf("\n");
            if (i >= 0 && !this.info) {
                try {
                    this.info = JSON.parse(out.slice(0, i));
                    ready.resolve(this.info);
                } catch (e) {
                    ready.reject(new Error(`the runner's first line is not JSON: ${out.slice(0, i)} (${e.message})`));
                }
            }
        });
        let buf = "";
        p.stderr.on("data", (d) => {
            buf += d;
            let i;
            while ((i = buf.indexOf("\n")) >= 0) {
                const line = buf.slice(0, i);
                this.log.push(line);
                if (/WARNING: DATA RACE|\] panic: |\] fatal error: /.test(line)) this.alarms.push(line);
                buf = buf.slice(i + 1);
            }
            if (this.log.length > 20000) this.log.splice(0, this.log.length - 15000);
        });
        p.on("exit", (code, signal) => {
            this.log.push(`[test] runner exited code=${code} signal=${signal}`);
            resolveExit({ code, signal });
            ready.reject(Object.assign(new Error(`the cluster runner exited (code ${code}, signal ${signal}) before it was ready\n${this.tail()}`), { code }));
        });
        await withTimeout(ready.promise, 120000, "the cluster runner's JSON line");
        this.log.push(`[test] cluster ready after ${Date.now() - t0} ms: ${JSON.stringify({ ...this.info, jwtSecret: "…" })}`);
    }

    /** POST a control action (e.g. "/redis/restart"); resolves with its JSON reply, rejects unless ok. */
    async control(action, ms = 60000) {
        const url = `${this.info.control}${action}`;
        let r;
        try {
            r = await withTimeout(hfetch(url, { method: "POST" }), ms, `control ${action}`);
        } catch (e) {
            // A fetch that failed before any reply (a reused keep-alive socket reset under load) is
            // tried once more on a new socket; an action that got a reply is never repeated.
            if (e.message !== "fetch failed") throw e;
            this.log.push(`[test] control ${action} -> fetch failed (${e.cause?.code ?? e.cause?.message ?? "no cause"}); trying once more`);
            r = await withTimeout(hfetch(url, { method: "POST", headers: { connection: "close" } }), ms, `control ${action}`);
        }
        const body = await r.json();
        this.log.push(`[test] control ${action} -> ${r.status} ${JSON.stringify(body)}`);
        assert.equal(r.status, 200, `control ${action}: ${JSON.stringify(body)}`);
        return body;
    }

    /** The end of a log the runner keeps (nginx: its access log with the upstream of each request). */
    async logs(name) {
        try {
            const r = await fetch(`${this.info.control}/logs/${name}`, { signal: AbortSignal.timeout(3000) });
            return `--- ${name} log (from the runner) ---\n${await r.text()}`;
        } catch (e) {
            return `--- ${name} log: ${e.message}`;
        }
    }

    /** Close the runner's stdin (it then stops everything) and wait; SIGKILL after 40 s. */
    async stop() {
        const p = this.proc;
        if (!p || p.exitCode !== null || p.signalCode !== null) return;
        p.stdin.end();
        const timer = setTimeout(() => { this.log.push("[test] runner did not stop in 40 s: SIGKILL"); p.kill("SIGKILL"); }, 40000);
        await this.exit;
        clearTimeout(timer);
    }

    /** The end of the runner's stderr (its own messages and every node's log), for failures. */
    tail() {
        const lines = this.log.slice(-300);
        return `--- cluster runner output (last ${lines.length} of ${this.log.length} lines) ---\n${lines.join("\n")}`;
    }
}

// ------------------------------------------------------------------------------------------- helpers

export const ctx = { runner: null };
export const servers = () => ctx.runner;
export const info = () => ctx.runner.info;
export const token = (user) => mintToken(info().jwtSecret, user);

/** Poll an async condition until it is true; fail after ms. */
export async function waitUntil(cond, ms, what) {
    const deadline = Date.now() + ms;
    for (;;) {
        if (await cond()) return;
        if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        await sleep(50);
    }
}

/** herald_hub_connections of one hub on a node (its /metrics, fetched directly). */
export async function hubConnections(nodeUrl, hub) {
    const r = await fetch(`${nodeUrl}/metrics`, { signal: AbortSignal.timeout(3000) });
    const text = await r.text();
    let n = 0;
    for (const m of text.matchAll(/^herald_hub_connections\{([^}]*)\} (\S+)$/gm)) {
        if (m[1].includes(`hub="${hub}"`)) n += Number(m[2]);
    }
    return n;
}

export async function counts(nodes, hub) {
    return Promise.all(nodes.map((u) => hubConnections(u, hub).catch(() => NaN)));
}

/**
 * Opens connections one at a time through the load balancer and finds each one's node: the node whose
 * herald_hub_connections went up by one. Stops once `want` connections are open and `cover(conns)` is
 * true, or at `max` (the caller asserts what it needs). Every connection gets `.node` (index into `nodes`, -1 if unclear).
 */
export async function openPlaced(s, { lb, nodes, hub = "conformance", want, max = want + 16, cover = () => true, make }) {
    const conns = [];
    let base = await counts(nodes, hub);
    while (conns.length < max && (conns.length < want || !cover(conns))) {
        const i = conns.length;
        if (i > 0) {
            // nginx's round robin is deterministic, and so can be the nodes a fixed sequence of
            // connections lands on (a node may never get one): shift its phase until a node chosen
            // at random has answered (nginx names it in X-Upstream), so the next request goes to
            // the node after it, whatever the requests of the connections before.
            const target = nodes[Math.floor(Math.random() * nodes.length)].replace(/^https?:\/\//, "");
            for (let k = 0; k < 2 * nodes.length; k++) {
                const r = await fetch(`${lb}/healthz`);
                await r.text();
                if (r.headers.get("x-upstream") === target) break;
            }
        }
        const opts = make(i);
        const c = s.build({ url: `${lb}/hubs/${hub}`, ...opts });
        await withTimeout(c.hub.start(), 15000, `start() of ${c.label}`);
        let now = base;
        const deadline = Date.now() + 2000;
        for (;;) {
            now = await counts(nodes, hub);
            // A node that is down (NaN) holds nothing new.
            const up = now.map((n, k) => (Number.isNaN(n) || Number.isNaN(base[k]) ? 0 : n - base[k]));
            if (up.filter((d) => d === 1).length === 1 && up.filter((d) => d !== 0).length === 1) {
                c.node = up.indexOf(1);
                break;
            }
            if (Date.now() > deadline) {
                c.node = -1;
                s.note(`[test] could not tell the node of ${c.label}: before ${JSON.stringify(base)}, after ${JSON.stringify(now)}`);
                break;
            }
            await sleep(25);
        }
        base = now;
        c.label = `${c.label} @node${c.node}`;
        conns.push(c);
    }
    s.note(`[test] placement on ${hub}: ${conns.map((c) => c.label).join(", ")}`);
    return conns;
}

/** A line for the failure diagnostics and for the test's output. */
export function tell(s, t, line) {
    s.note(`[test] ${line}`);
    t?.diagnostic(line);
}

export const distinctNodes = (conns) => new Set(conns.map((c) => c.node).filter((n) => n >= 0)).size;

/** Waits until the previous tests' connections to `hub` are gone from every node (bounded). */
export async function settle(nodes, hub = "conformance") {
    try {
        await waitUntil(async () => (await counts(nodes, hub)).every((n) => n === 0 || Number.isNaN(n)), 5000, `no ${hub} connections left`);
    } catch { /* openPlaced works from differences anyway */ }
}

/** Two connections of `conns` on different nodes: [a, b], a !== b. */
export function onTwoNodes(conns) {
    for (const a of conns) {
        for (const b of conns) {
            if (a.node >= 0 && b.node >= 0 && a.node !== b.node) return [a, b];
        }
    }
    throw new Error(`no two connections on different nodes: ${conns.map((c) => c.label).join(", ")}`);
}

/** After a marker reached every connection in `all`, let late duplicates arrive, then check counts. */
export async function assertExactlyOnce(sender, all, cols, silent) {
    await assertNotReceived(sender, all, silent);
    await sleep(300);
    for (const col of cols) {
        assert.equal(col.items.length, 1, `${col.label} must get ${col.method} exactly once, got ${JSON.stringify(col.items)}`);
    }
    for (const col of silent) {
        assert.deepEqual(col.items, [], `${col.label} must not get ${col.method}, got ${JSON.stringify(col.items)}`);
    }
}

/** GET a node's /readyz directly: {status (HTTP), body}. */
export async function readyz(nodeUrl) {
    const r = await fetch(`${nodeUrl}/readyz`, { signal: AbortSignal.timeout(3000) });
    return { http: r.status, body: await r.json().catch(() => null) };
}

/**
 * Sends SendToUser(user, method, "<tag>#<round>") from `sender`, round after round, until every
 * collector got one round's value within 700 ms; resolves with the time that took ({ms, rounds}), or
 * fails after `ms`. Sends that fail (the backplane reconnecting) are noted and retried.
 */
export async function deliverAgain(s, sender, user, cols, method, ms) {
    const t0 = Date.now();
    const tag = unique("round");
    let seq = 0;
    let mine;
    while (Date.now() - t0 < ms) {
        seq += 1;
        mine = `${tag}#${seq}`;
        try {
            await withTimeout(sender.hub.invoke("SendToUser", user, method, mine), 2000, `SendToUser #${mine}`);
        } catch (e) {
            s.note(`[test] +${Date.now() - t0} ms SendToUser #${mine} failed: ${e.message}`);
            await sleep(100);
            continue;
        }
        const got = await withTimeout(
            waitUntil(async () => cols.every((c) => c.items.includes(mine)), 700, `round ${mine}`),
            1000, `round ${mine}`,
        ).then(() => true, () => false);
        if (got) return { ms: Date.now() - t0, rounds: seq };
        s.note(`[test] +${Date.now() - t0} ms round ${mine} missing on ${cols.filter((c) => !c.items.includes(mine)).map((c) => c.label).join(", ")}`);
    }
    throw new Error(`SendToUser did not reach every connection of ${user} within ${ms} ms ` +
        `(after ${seq} rounds; the last, ${mine}, is missing on ${cols.filter((c) => !c.items.includes(mine)).map((c) => c.label).join(", ")})`);
}

// ---------------------------------------------------------------------------------------- the suite

/**
 * Defines a cluster test file: when Go, nginx, redis-server or PostgreSQL is missing, one test that
 * fails under CI=true and is skipped loudly otherwise; else a cluster started before the tests (the
 * runner with `args`) and stopped after them, `body()` defining the tests, and a last test that no
 * herald process reported a data race, a panic or a fatal error.
 */
export async function clusterSuite(file, args, body) {
    const missing = await missingPrerequisites();
    if (missing.length > 0) {
        const what = `the cluster suites need ${missing.join(", ")}`;
        if (process.env.CI === "true") {
            test("cluster suite prerequisites", () => assert.fail(`${what}, and CI=true`));
        } else {
            process.stderr.write(`\n!!!!! SKIPPING ${file}: ${what} (under CI=true it fails instead) !!!!!\n\n`);
            test("cluster suite", { skip: `SKIPPING: ${what}` }, () => {});
        }
        return;
    }
    before(async () => {
        const extra = (process.env.HERALD_CLUSTER_ARGS ?? "").split(/\s+/).filter(Boolean);
        ctx.runner = new ClusterRunner();
        try {
            await ctx.runner.launch([...args, "--database", DATABASE, ...extra]);
        } catch (e) {
            process.stderr.write(`\n======== the cluster did not start\n${e.stack ?? e}\n${ctx.runner.tail()}\n========\n`);
            throw e;
        }
    }, { timeout: 50000 });
    after(async () => {
        await ctx.runner?.stop();
    }, { timeout: 50000 });

    body();

    it("no herald process reported a data race, a panic or a fatal error", async () => {
        assert.deepEqual(ctx.runner.alarms, [], "lines of the nodes' and the worker's output (run with HERALD_BIN=bin/herald-race to catch races)");
    });
}

/** itWith with the cluster runner's output as the server diagnostics. */
export function it(name, fn, opts) {
    return itWith(name, servers, fn, opts);
}

/**
 * One node goes down while clients with automatic reconnect are connected through the load balancer:
 * `kill` (SIGKILL) or `term` (SIGTERM: drain, Close{allowReconnect: true}, exit 0). Per pair, the
 * connections it held must reconnect within `within` ms (to the surviving nodes) and get SendToUser
 * exactly once; then the node starts again on its port and rejoins the cluster.
 */
export function nodeDown({ node, action, within }) {
    const what = action === "kill" ? `node ${node} killed (SIGKILL)` : `node ${node} stopped with SIGTERM`;
    describe(what, () => {
        const st = { scope: null, conns: [], user: unique(`${action}-`), at: 0, reconnected: new Map(), closed: new Map() };
        /** itWith, but a failure also shows the long-lived connections of this part. */
        const itDown = (name, fn, pair) => it(name, async (s, t) => {
            try {
                await fn(s, t);
            } catch (e) {
                // Their traces, without handing them to the test's scope (which would stop them).
                for (const c of st.conns.filter((x) => !pair || x.pair === pair)) {
                    s.conns.push({ label: c.label, dump: (...a) => c.dump(...a), hub: { stop: async () => {} } });
                }
                s.note(await ctx.runner.logs("nginx"));
                throw e;
            }
        });
        after(async () => {
            await st.scope?.close();
            await ctx.runner?.control(`/nodes/${node}/start`).catch(() => {});
        });

        itDown(`connections with automatic reconnect on every transport, some of each on node ${node}; then POST /nodes/${node}/${action}`, async (s, t) => {
            await settle(info().nodes);
            st.scope = new Scope();
            const on = (cs, pair) => cs.some((c) => c.pair === pair && c.node === node);
            // Per pair: connections until some are on the node and one is on another node. A
            // long-polling connection's pending poll may be at its own node or at another one that
            // forwards it over the backplane (nginx chose); 3 of them make it near certain that both
            // cases are in the test.
            for (const pair of PAIRS) {
                const want = pair.transport === signalR.HttpTransportType.LongPolling ? 3 : 1;
                st.conns.push(...await openPlaced(st.scope, {
                    lb: info().lb, nodes: info().nodes, want: 2, max: 20,
                    cover: (cs) => cs.filter((c) => c.node === node).length >= want && cs.some((c) => c.node >= 0 && c.node !== node),
                    make: (i) => ({ pair, token: token(st.user), reconnectDelays: RECONNECT, label: `${pair.name} #${i}` }),
                }));
            }
            for (const n of st.scope.notes) s.note(n);
            for (const p of PAIRS) assert.ok(on(st.conns, p), `a ${p.name} connection on node ${node}: ${st.conns.map((c) => c.label).join(", ")}`);
            for (const c of st.conns) {
                c.hub.onreconnected((id) => st.reconnected.set(c, { id, at: Date.now() }));
                c.closed.then((e) => st.closed.set(c, e?.message ?? String(e)));
            }
            const t0 = Date.now();
            const r = await ctx.runner.control(`/nodes/${node}/${action}`);
            st.at = t0;
            tell(s, t, `POST /nodes/${node}/${action}: ${JSON.stringify(r)}`);
            if (action === "term") {
                assert.equal(r.exit, "exit status 0", "SIGTERM: the node drains and exits 0");
                const log = await (await fetch(`${info().control}/logs/node${node}`)).text();
                st.drain = { ms: r.ms, log: log.slice(log.lastIndexOf("shutting down") - 200) };
            }
        });

        if (action === "term") {
            it(`node ${node} drained before its --shutdown-timeout (3 s): no "shutdown incomplete"`, async (s) => {
                assert.ok(st.drain, `node ${node} was not stopped`);
                s.note(`[test] node ${node}'s log from "shutting down" on:\n${st.drain.log}`);
                assert.doesNotMatch(st.drain.log, /shutdown incomplete/,
                    `SIGTERM took ${st.drain.ms} ms and the drain did not complete: ${/msg="shutdown incomplete"[^\n]*/.exec(st.drain.log)?.[0]}`);
            });
        }

        for (const pair of PAIRS) {
            itDown(`${pair.name}: the connections that were on node ${node} reconnect within ${within / 1000} s through the load balancer, and SendToUser reaches all of them`, async (s, t) => {
                assert.ok(st.at > 0, `node ${node} was not taken down`);
                const mine = st.conns.filter((c) => c.pair === pair);
                const wasOn = mine.filter((c) => c.node === node);
                try {
                    await waitUntil(async () => wasOn.every((c) => st.reconnected.has(c) || st.closed.has(c)),
                        Math.max(1, st.at + within - Date.now()), "onreconnected");
                } catch {
                    throw new Error(`${Date.now() - st.at} ms after POST /nodes/${node}/${action}, ${pair.name} connections that were on node ${node} ` +
                        `have not reconnected: ${wasOn.filter((c) => !st.reconnected.has(c)).map((c) => `${c.label} (client state ${c.hub.state})`).join(", ")}`);
                }
                assert.deepEqual(mine.filter((c) => st.closed.has(c)).map((c) => `${c.label}: ${st.closed.get(c)}`), [], "no connection closes for good");
                tell(s, t, `reconnected after ${wasOn.map((c) => `${c.label}: ${st.reconnected.get(c).at - st.at} ms`).join(", ")}`);
                for (const c of mine) assert.equal(c.hub.state, "Connected", `${c.label} is connected`);
                if (action === "term") {
                    for (const c of wasOn) {
                        const close = await c.waitMessage((e) => e.dir === "in" && e.msg.type === 7, 1000, "Close message");
                        assert.equal(close.msg.allowReconnect, true, `${c.label}: Close ${JSON.stringify(close.msg)}`);
                    }
                }

                const [sender] = await openPlaced(s, { lb: info().lb, nodes: info().nodes, want: 1, make: () => ({ pair: PAIRS[0], token: token(unique("sender-")), label: "sender" }) });
                const m = unique("afterDown");
                const cols = mine.map((c) => new Collector(c, m));
                const d = await deliverAgain(s, sender, st.user, cols, m, 5000);
                tell(s, t, `SendToUser reached every ${pair.name} connection after ${d.ms} ms (${d.rounds} rounds)`);
                const fin = unique("final");
                const finCols = mine.map((c) => new Collector(c, fin));
                await withTimeout(sender.hub.invoke("SendToUser", st.user, fin, "x"), 5000, "final SendToUser");
                for (const col of finCols) assert.equal(await col.next(5000), "x");
                await assertExactlyOnce(sender, [...mine, sender], finCols, []);
            }, pair);
        }

        itDown(`node ${node} starts again on its port, is ready, and a connection that lands on it gets SendToUser`, async (s2) => {
            await ctx.runner.control(`/nodes/${node}/start`);
            const nodes = info().nodes;
            assert.equal((await readyz(nodes[node])).body?.status, "ready", `node ${node} is ready again`);
            // nginx leaves a node whose connect failed alone for fail_timeout (2 s): requests retried
            // while the node was down may have just failed there.
            await sleep(2500);
            const late = await openPlaced(s2, {
                lb: info().lb, nodes, want: 2, max: 16, cover: (cs) => cs.some((c) => c.node === node) && cs.some((c) => c.node >= 0 && c.node !== node),
                make: (i) => ({ pair: PAIRS[0], token: token(st.user), label: `late #${i}` }),
            });
            const back = late.find((c) => c.node === node);
            const sender = late.find((c) => c.node >= 0 && c.node !== node);
            assert.ok(back && sender, `connections on node ${node} and another node: ${late.map((c) => c.label).join(", ")}`);
            const m = unique("toRestarted");
            const col = new Collector(back, m);
            await withTimeout(sender.hub.invoke("SendToUser", st.user, m, "back"), 5000, "SendToUser to the restarted node");
            assert.equal(await col.next(5000), "back");
        });
    });
}
