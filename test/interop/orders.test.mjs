// The order flow example (examples/orders) end to end, with the official client: the example's api
// negotiates for the client (redirect to Herald's /client/?hub=orders), an order placed through the
// api goes through NATS JetStream to the worker, which notifies the user's group through the
// management API; the audit consumer gets every order as well. A worker killed mid-order, and one
// that dies between its notification and its ack, leave the user exactly one notification.
//
// Needs a NATS server with JetStream ($NATS_URL, default nats://127.0.0.1:4222; .ci/run starts one)
// and Go (to build the example). Without NATS the suite is skipped loudly, and fails under CI=true.
// Each run uses a stream and subject of its own, and deletes the stream afterwards.

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { Collector, hfetch, itWith, sleep, unique, withTimeout } from "./lib/client.mjs";
import { HeraldServer, makeTempDir, runHerald } from "./lib/server.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, "..", "..");
const NATS_URL = process.env.NATS_URL || "nats://127.0.0.1:4222";
const ACCESS_KEY = "orders-interop-access-key-0123456789abcdef";
const RUN = randomBytes(4).toString("hex");
// Flags of every orders process: this run's own stream and subject on the shared NATS server.
const STREAM_FLAGS = ["--stream", `ORDERS_TEST_${RUN}`, "--subject", `test${RUN}.orders.created`];
// The test's worker: quick, and an AckWait short enough for the redelivery tests.
const WORKER_FLAGS = ["--delay", "100ms", "--ack-wait", "2s"];

const ctx = { dir: null, bin: null, herald: null, env: null, api: null, worker: null, audit: null, auditFile: null, procs: new Set() };

// ------------------------------------------------------------------------------------ the processes

/** A running orders command, with its output lines (for waitLine and the diagnostics). */
class OrdersProc {
    constructor(name, args) {
        this.name = name;
        this.args = args;
        this.log = [];
        this.waiters = [];
        this.proc = spawn(ctx.bin, args, { cwd: ctx.dir, env: ctx.env, stdio: ["ignore", "pipe", "pipe"] });
        this.pid = this.proc.pid;
        ctx.procs.add(this);
        this.log.push(`[test] started pid ${this.pid}: orders ${args.join(" ")}`);
        this.exit = new Promise((resolve) => {
            this.proc.on("exit", (code, signal) => {
                this.log.push(`[test] exited code=${code} signal=${signal}`);
                ctx.procs.delete(this);
                resolve({ code, signal });
                for (const w of this.waiters.splice(0)) w.check();
            });
        });
        this.proc.on("error", (e) => this.log.push(`[test] spawn error: ${e.message}`));
        for (const [stream, tag] of [[this.proc.stdout, "out"], [this.proc.stderr, "err"]]) {
            let buf = "";
            stream.on("data", (d) => {
                buf += d.toString("utf8");
                let i;
                while ((i = buf.indexOf("\n")) >= 0) {
                    const line = buf.slice(0, i);
                    buf = buf.slice(i + 1);
                    this.log.push(`[${tag} ${new Date().toISOString().slice(11, 23)}] ${line}`);
                    for (const w of this.waiters.slice()) w.check();
                }
            });
        }
    }

    static async start(name, args, ready, ms = 20000) {
        const p = new OrdersProc(name, args);
        await p.waitLine(ready, ms, `${name} to be ready`);
        return p;
    }

    running() {
        return this.proc.exitCode === null && this.proc.signalCode === null;
    }

    /** The first output line matching re (earlier lines count); fails after ms or when the process exits. */
    waitLine(re, ms, what) {
        return withTimeout(new Promise((resolve, reject) => {
            const w = {
                check: () => {
                    const hit = this.log.find((l) => re.test(l));
                    if (hit) {
                        this.waiters.splice(this.waiters.indexOf(w), 1);
                        resolve(hit.match(re));
                    } else if (!this.running()) {
                        this.waiters.splice(this.waiters.indexOf(w), 1);
                        reject(new Error(`${this.name} exited while waiting for ${what}\n${this.tail(30)}`));
                    }
                },
            };
            this.waiters.push(w);
            w.check();
        }), ms, `${what} (${re}) in the output of ${this.name}`);
    }

    /** Signal the process (by its pid) and wait for it to exit; SIGKILL after graceMs. */
    async stop(signal = "SIGTERM", graceMs = 10000) {
        if (this.running()) {
            process.kill(this.pid, signal);
            const timer = setTimeout(() => {
                if (this.running()) {
                    this.log.push(`[test] still running ${graceMs} ms after ${signal}: SIGKILL`);
                    process.kill(this.pid, "SIGKILL");
                }
            }, graceMs);
            await this.exit.finally(() => clearTimeout(timer));
        }
        return this.exit;
    }

    tail(n = 60) {
        const lines = this.log.slice(-n);
        return `--- orders ${this.name} (last ${lines.length} of ${this.log.length} lines) ---\n${lines.join("\n")}`;
    }
}

process.on("exit", () => {
    for (const p of ctx.procs) {
        try { process.kill(p.pid, "SIGKILL"); } catch { /* already gone */ }
    }
});

const startWorker = (name, flags = []) => OrdersProc.start(name, ["worker", ...WORKER_FLAGS, ...STREAM_FLAGS, ...flags], /worker: ready:/);

/** Stop the running worker (SIGTERM: it hands back what it holds) and start another with flags. */
async function replaceWorker(name, flags) {
    const exit = await ctx.worker.stop("SIGTERM");
    assert.deepEqual(exit, { code: 0, signal: null }, `the worker exits 0 on SIGTERM\n${ctx.worker.tail(20)}`);
    ctx.worker = await startWorker(name, flags);
    return ctx.worker;
}

// ---------------------------------------------------------------------------------------- the checks

/** The INFO a NATS server greets with, or null when none answers within ms. */
function natsInfo(url, ms = 2000) {
    const u = new URL(url);
    return new Promise((resolve) => {
        const s = connect({ host: u.hostname, port: Number(u.port || 4222) });
        let buf = "";
        const done = (v) => { clearTimeout(timer); s.destroy(); resolve(v); };
        const timer = setTimeout(() => done(null), ms);
        s.on("data", (d) => {
            buf += d;
            const i = buf.indexOf("\r\n");
            if (i < 0) return;
            try {
                done(buf.startsWith("INFO ") ? JSON.parse(buf.slice(5, i)) : null);
            } catch {
                done(null);
            }
        });
        s.on("error", () => done(null));
    });
}

function goBuild(out) {
    return new Promise((resolve, reject) => {
        execFile("go", ["build", "-o", out, "./examples/orders"], { cwd: ROOT, timeout: 240000 }, (err, _stdout, stderr) => {
            if (err) reject(new Error(`go build ./examples/orders failed: ${err.message}\n${stderr}`));
            else resolve();
        });
    });
}

const servers = () => [ctx.herald, ctx.api, ctx.audit, ctx.worker, ...ctx.procs].filter((x, i, a) => x && a.indexOf(x) === i);
const it = (name, fn, opts) => itWith(name, servers, fn, opts);

/** A page of user: the official client, negotiating through the api (the user in the query, or in X-User). */
async function page(s, user, { header = false, label } = {}) {
    const c = header
        ? await s.connect({ url: `${ctx.api.url}/`, httpOptions: { headers: { "X-User": user } }, label: label ?? `${user} (X-User)` })
        : await s.connect({ url: `${ctx.api.url}/?user=${encodeURIComponent(user)}`, label: label ?? user });
    c.completed = new Collector(c, "orderCompleted");
    c.failed = new Collector(c, "orderFailed");
    return c;
}

async function placeOrder(user, order, headers = {}) {
    const r = await hfetch(`${ctx.api.url}/orders?user=${encodeURIComponent(user)}`, {
        method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify(order),
    });
    const body = await r.json();
    assert.equal(r.status, 202, `POST /orders: ${r.status} ${JSON.stringify(body)}`);
    assert.equal(body.status, "accepted");
    assert.match(body.id, /^ord_[0-9a-f]{20}$/);
    return body.id;
}

/** Wait for the value of col with this order id (other orders' values are passed over). */
async function nextFor(col, id, ms) {
    const deadline = Date.now() + ms;
    for (;;) {
        const hit = col.items.find((o) => o?.id === id);
        if (hit) return hit;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no ${col.method}(${id}) on ${col.label} within ${ms} ms; got ${JSON.stringify(col.items)}`);
        await col.next(left).catch(() => {});
    }
}

const count = (col, id) => col.items.filter((o) => o?.id === id).length;

/** The audit file's lines of each order id, once the ids are all there (within ms). */
async function auditLines(ids, ms = 10000) {
    const deadline = Date.now() + ms;
    for (;;) {
        const lines = existsSync(ctx.auditFile)
            ? readFileSync(ctx.auditFile, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l))
            : [];
        const byId = new Map(ids.map((id) => [id, lines.filter((l) => l.order?.id === id)]));
        if ([...byId.values()].every((ls) => ls.length > 0)) return byId;
        if (Date.now() > deadline) throw new Error(`the audit file lacks ${ids.filter((id) => byId.get(id).length === 0).join(", ")} after ${ms} ms:\n${lines.map((l) => JSON.stringify(l)).join("\n")}`);
        await sleep(100);
    }
}

// ------------------------------------------------------------------------------------------- suite

const info = await natsInfo(NATS_URL);
const missing = info === null ? `no NATS server answers at ${NATS_URL}` : (info.jetstream ? null : `the NATS server at ${NATS_URL} runs without JetStream (-js)`);
if (missing) {
    if (process.env.CI === "true") {
        test("orders suite prerequisites", () => assert.fail(`${missing} (.ci/run starts one), and CI=true`));
    } else {
        console.warn(`\n!!!!! SKIPPING orders.test.mjs: ${missing}; start one with \`nats-server -js -a 127.0.0.1 -p 4222\` (under CI=true it fails instead) !!!!!\n`);
        test("orders suite", { skip: `SKIPPING: ${missing}` }, () => {});
    }
} else {
    suite();
}

function suite() {
    before(async () => {
        ctx.dir = makeTempDir("herald-orders-");
        ctx.auditFile = path.join(ctx.dir, "audit.jsonl");
        // run.sh builds the example before the suites start (HERALD_TEST_ORDERS_BIN), so that a slow
        // build on a loaded machine does not count against this file's time limit.
        ctx.bin = process.env.HERALD_TEST_ORDERS_BIN || path.join(ctx.dir, "orders");
        if (!process.env.HERALD_TEST_ORDERS_BIN) await goBuild(ctx.bin);
        ctx.herald = await HeraldServer.start({ conformance: false, extraArgs: ["--hub", "orders", "--access-key", ACCESS_KEY] });
        // The connection string as the README has it: herald keys.
        const keys = await runHerald(["keys", "--endpoint", ctx.herald.url, "--access-key", ACCESS_KEY]);
        assert.equal(keys.code, 0, `herald keys: ${keys.stderr}`);
        const cs = keys.stdout.trim();
        assert.match(cs, /^Endpoint=http:\/\/127\.0\.0\.1:\d+;AccessKey=.+;Version=1\.0;$/);
        ctx.env = { ...process.env, HERALD_CONNECTION_STRING: cs, NATS_URL };
        [ctx.audit, ctx.api, ctx.worker] = await Promise.all([
            OrdersProc.start("audit", ["audit", "--out", ctx.auditFile, ...STREAM_FLAGS], /audit: ready:/),
            OrdersProc.start("api", ["api", "--addr", "127.0.0.1:0", ...STREAM_FLAGS], /api: listening on (http:\/\/\S+)/),
            startWorker("worker #1"),
        ]);
        ctx.api.url = (await ctx.api.waitLine(/api: listening on (http:\/\/\S+)/, 1000, "the api's address"))[1];
    }, { timeout: 300000 });

    after(async () => {
        await Promise.allSettled([...ctx.procs].map((p) => p.stop("SIGKILL")));
        await ctx.herald?.stop();
        if (ctx.bin && existsSync(ctx.bin)) {
            const reset = await new Promise((resolve) => {
                execFile(ctx.bin, ["reset", ...STREAM_FLAGS], { env: { ...process.env, NATS_URL }, timeout: 20000 }, (err, stdout, stderr) => resolve({ err, out: stdout + stderr }));
            });
            if (reset.err) console.warn(`could not delete the stream ORDERS_TEST_${RUN}: ${reset.err.message}\n${reset.out}`);
        }
    }, { timeout: 60000 });

    it("the api refuses a request without a user (401) and a malformed order (400), with a JSON error", async () => {
        const post = (q, body, headers = {}) => hfetch(`${ctx.api.url}/orders${q}`, { method: "POST", headers, body });
        for (const [q, body, status] of [
            ["", '{"item":"book","quantity":1}', 401],
            ["?user=a%20b", '{"item":"book","quantity":1}', 400],
            ["?user=alice", "not json", 400],
            ["?user=alice", '{"item":"","quantity":1}', 400],
            ["?user=alice", '{"item":"book","quantity":0}', 400],
            ["?user=alice", '{"item":"book","quantity":2.5}', 400],
            ["?user=alice", '{"item":"book","quantity":1,"price":3}', 400],
            ["?user=alice", '{"item":"book","quantity":1}{}', 400],
        ]) {
            const r = await post(q, body);
            assert.equal(r.status, status, `POST /orders${q} ${body}`);
            assert.match(r.headers.get("content-type"), /application\/json/);
            assert.equal(typeof (await r.json()).error, "string");
        }
        const neg = await hfetch(`${ctx.api.url}/negotiate`, { method: "POST" });
        assert.equal(neg.status, 401, "negotiate without a user");
    });

    it("alice's two pages each get exactly one orderCompleted for her order; bob gets his own only", async (s) => {
        const alice = unique("alice-");
        const bob = unique("bob-");
        const a1 = await page(s, alice);
        const a2 = await page(s, alice, { header: true });
        const b = await page(s, bob);

        const idA = await placeOrder(alice, { item: "book", quantity: 2 });
        const idB = await placeOrder(bob, { item: "pen", quantity: 1 });
        for (const c of [a1, a2]) {
            const o = await nextFor(c.completed, idA, 15000);
            assert.deepEqual({ id: o.id, item: o.item, quantity: o.quantity, status: o.status }, { id: idA, item: "book", quantity: 2, status: "completed" });
        }
        assert.equal((await nextFor(b.completed, idB, 15000)).status, "completed");
        await sleep(1500); // room for a second copy or a stray one
        for (const c of [a1, a2]) {
            assert.deepEqual(c.completed.items.map((o) => o.id), [idA], `${c.label}: one orderCompleted, for her order`);
            assert.equal(c.failed.items.length, 0);
        }
        assert.deepEqual(b.completed.items.map((o) => o.id), [idB], "bob gets his order only");

        const audit = await auditLines([idA, idB]);
        for (const [id, lines] of audit) assert.equal(lines.length, 1, `${id} is audited once`);
        assert.equal(audit.get(idA)[0].order.user, alice);
    });

    it("a POST retried with the same Idempotency-Key is one order (the stream drops the copy by Nats-Msg-Id)", async (s) => {
        const alice = unique("alice-");
        const a = await page(s, alice);
        const key = { "Idempotency-Key": unique("click-") };
        const id = await placeOrder(alice, { item: "lamp", quantity: 1 }, key);
        assert.equal(await placeOrder(alice, { item: "lamp", quantity: 1 }, key), id, "the same order id");
        await nextFor(a.completed, id, 15000);
        await ctx.api.waitLine(new RegExp(`order ${id} accepted .*a duplicate the stream dropped`), 2000, "the api's duplicate line");
        await sleep(1000);
        assert.equal(count(a.completed, id), 1);
        assert.equal((await auditLines([id])).get(id).length, 1, "audited once");
    });

    it("a worker killed (SIGKILL) mid-order: the order is redelivered to the next worker, alice gets one orderCompleted", async (s) => {
        const alice = unique("alice-");
        const a = await page(s, alice);
        const slow = await replaceWorker("worker #2 (slow, killed)", ["--delay", "3s"]);
        const id = await placeOrder(alice, { item: "chair", quantity: 4 });
        await slow.waitLine(new RegExp(`processing order ${id}`), 10000, "the slow worker to take the order");
        const exit = await slow.stop("SIGKILL");
        assert.equal(exit.signal, "SIGKILL");
        assert.equal(count(a.completed, id), 0, "nothing was sent before the kill");

        const t0 = Date.now();
        ctx.worker = await startWorker("worker #3");
        await ctx.worker.waitLine(new RegExp(`processing order ${id}`), 15000, "the redelivery to the next worker");
        await nextFor(a.completed, id, 15000);
        s.note(`[test] orderCompleted ${Date.now() - t0} ms after the next worker started`);
        await sleep(3000); // longer than AckWait: a second delivery would have come
        assert.equal(count(a.completed, id), 1, "exactly one orderCompleted");
        assert.equal(a.failed.items.length, 0);
        assert.equal((await auditLines([id])).get(id).length, 1, "audited once");
    });

    it("a worker that dies between its notification and its ack: redelivered, and the idempotency key keeps it to one orderCompleted", async (s) => {
        const alice = unique("alice-");
        const a = await page(s, alice);
        const dying = await replaceWorker("worker #4 (exits before the ack)", ["--exit-before-ack"]);
        const id = await placeOrder(alice, { item: "desk", quantity: 1 });
        await nextFor(a.completed, id, 15000);
        assert.equal((await withTimeout(dying.exit, 10000, "the worker to exit")).code, 3);
        assert.match(dying.log.join("\n"), new RegExp(`order ${id} completed, ${alice} notified; exiting before the ack`));

        ctx.worker = await startWorker("worker #5");
        // The redelivered order is processed and notified again, with the same key: Herald drops it.
        await ctx.worker.waitLine(new RegExp(`order ${id} completed, ${alice} notified \\(orderCompleted\\)`), 15000, "the redelivery to be done");
        await sleep(1000);
        assert.equal(count(a.completed, id), 1, "exactly one orderCompleted though it was sent twice");
        assert.equal((await auditLines([id])).get(id).length, 1, "audited once");
    });

    it("a worker with --fail-rate 1: alice gets orderFailed with a reason, and no orderCompleted", async (s) => {
        const alice = unique("alice-");
        const a = await page(s, alice);
        await replaceWorker("worker #6 (fail rate 1)", ["--fail-rate", "1"]);
        const id = await placeOrder(alice, { item: "vase", quantity: 3 });
        const o = await nextFor(a.failed, id, 15000);
        assert.equal(o.status, "failed");
        assert.equal(o.quantity, 3);
        assert.ok(typeof o.reason === "string" && o.reason.length > 0, `a reason: ${JSON.stringify(o)}`);
        await sleep(1000);
        assert.equal(count(a.failed, id), 1);
        assert.equal(a.completed.items.length, 0);
    });
}
