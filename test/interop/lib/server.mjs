// Starting and stopping Herald server processes for the interop suites.
//
// Every process started here is remembered and killed when the test process exits, also on failure.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

/** Path of the herald binary: $HERALD_BIN, else ../../bin/herald relative to test/interop. */
export const HERALD_BIN = process.env.HERALD_BIN
    ? path.resolve(process.env.HERALD_BIN)
    : path.resolve(here, "..", "..", "..", "bin", "herald");

const live = new Set();
const tempDirs = new Set();

process.on("exit", () => {
    for (const p of live) {
        try { p.kill("SIGKILL"); } catch { /* already gone */ }
    }
    for (const d of tempDirs) {
        try { rmSync(d, { recursive: true, force: true }); } catch { /* ignore */ }
    }
});
for (const sig of ["SIGINT", "SIGTERM"]) {
    process.once(sig, () => process.exit(130));
}

export function makeTempDir(prefix = "herald-interop-") {
    const d = mkdtempSync(path.join(tmpdir(), prefix));
    tempDirs.add(d);
    return d;
}

/** A free TCP port on 127.0.0.1 (for tests that restart a server on the same port). */
export function freePort() {
    return new Promise((resolve, reject) => {
        const srv = createServer();
        srv.unref();
        srv.on("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

function assertBinary() {
    if (!existsSync(HERALD_BIN)) {
        throw new Error(`Herald binary not found at ${HERALD_BIN}. Build it with ` +
            "`cd /work/main && go build -o bin/herald ./cmd/herald` or set HERALD_BIN.");
    }
}

/** Run a herald sub-command to completion (e.g. `token`). Resolves {code, stdout, stderr}. */
export function runHerald(args, { timeoutMs = 20000, cwd } = {}) {
    assertBinary();
    return new Promise((resolve, reject) => {
        const p = spawn(HERALD_BIN, args, { cwd: cwd ?? makeTempDir(), stdio: ["ignore", "pipe", "pipe"] });
        live.add(p);
        let stdout = "";
        let stderr = "";
        p.stdout.on("data", (d) => { stdout += d; });
        p.stderr.on("data", (d) => { stderr += d; });
        const timer = setTimeout(() => {
            p.kill("SIGKILL");
            reject(new Error(`herald ${args.join(" ")} did not finish in ${timeoutMs} ms\nstderr:\n${stderr}`));
        }, timeoutMs);
        p.on("error", (e) => { clearTimeout(timer); live.delete(p); reject(e); });
        p.on("exit", (code, signal) => {
            clearTimeout(timer);
            live.delete(p);
            resolve({ code, signal, stdout, stderr });
        });
    });
}

/**
 * A running `herald serve`. Use `HeraldServer.start({...})`.
 * Options: port (0 = any), jwtSecret, conformance (default true), maxMessageSize, corsOrigins,
 * dataDir (default: a fresh temp dir), extraArgs.
 */
export class HeraldServer {
    constructor(opts) {
        this.opts = { conformance: true, port: 0, ...opts };
        this.dataDir = this.opts.dataDir ?? makeTempDir();
        this.log = [];          // every stderr/stdout line of every process started by this object
        this.proc = null;
        this.url = null;
        this.exit = null;       // promise of {code, signal} of the current process
        this.generation = 0;
    }

    static async start(opts = {}) {
        const s = new HeraldServer(opts);
        await s.launch();
        return s;
    }

    args() {
        const o = this.opts;
        const a = ["serve", "--addr", `127.0.0.1:${o.port}`, "--data-dir", this.dataDir];
        if (o.conformance) a.push("--conformance-hub");
        if (o.jwtSecret) a.push("--jwt-secret", o.jwtSecret);
        if (o.maxMessageSize) a.push("--max-message-size", String(o.maxMessageSize));
        if (o.corsOrigins) a.push("--cors-origins", o.corsOrigins);
        if (o.extraArgs) a.push(...o.extraArgs);
        return a;
    }

    /** Start the process (again); resolves when it logged its listening address. */
    async launch({ timeoutMs = 20000 } = {}) {
        assertBinary();
        const gen = ++this.generation;
        const args = this.args();
        this.log.push(`[test] #${gen} starting: ${HERALD_BIN} ${args.join(" ")}`);
        const p = spawn(HERALD_BIN, args, {
            cwd: this.dataDir,
            stdio: ["ignore", "pipe", "pipe"],
            env: { ...process.env },
        });
        live.add(p);
        this.proc = p;
        let resolveExit;
        this.exit = new Promise((r) => { resolveExit = r; });
        const url = await new Promise((resolve, reject) => {
            let settled = false;
            const timer = setTimeout(() => {
                if (settled) return;
                settled = true;
                reject(new Error(`herald did not log "listening on" within ${timeoutMs} ms.\n` + this.tail(60)));
            }, timeoutMs);
            const onLine = (stream) => {
                let buf = "";
                return (chunk) => {
                    buf += chunk.toString("utf8");
                    let i;
                    while ((i = buf.indexOf("\n")) >= 0) {
                        const line = buf.slice(0, i);
                        buf = buf.slice(i + 1);
                        this.log.push(`[${stream}#${gen} ${new Date().toISOString().slice(11, 23)}] ${line}`);
                        const m = /listening on (http:\/\/[^\s"]+)/.exec(line);
                        if (m && !settled) {
                            settled = true;
                            clearTimeout(timer);
                            resolve(m[1].replace(/\/+$/, ""));
                        }
                    }
                };
            };
            p.stderr.on("data", onLine("err"));
            p.stdout.on("data", onLine("out"));
            p.on("error", (e) => {
                if (!settled) { settled = true; clearTimeout(timer); reject(e); }
            });
            p.on("exit", (code, signal) => {
                live.delete(p);
                this.log.push(`[test] #${gen} exited code=${code} signal=${signal}`);
                resolveExit({ code, signal });
                if (!settled) {
                    settled = true;
                    clearTimeout(timer);
                    reject(new Error(`herald exited (code ${code}, signal ${signal}) before listening.\n` + this.tail(60)));
                }
            });
        });
        this.url = url;
        return url;
    }

    /** Send a signal and wait for the process to exit; SIGKILL after graceMs. Resolves {code, signal}. */
    async stop(signal = "SIGTERM", graceMs = 10000) {
        const p = this.proc;
        if (!p || p.exitCode !== null || p.signalCode !== null) return this.exit ?? { code: null, signal: null };
        const exit = this.exit;
        p.kill(signal);
        let timer;
        const killed = new Promise((r) => {
            timer = setTimeout(() => {
                this.log.push(`[test] process did not exit ${graceMs} ms after ${signal}: SIGKILL`);
                p.kill("SIGKILL");
                r();
            }, graceMs);
        });
        await Promise.race([exit, killed]);
        clearTimeout(timer);
        return exit;
    }

    /** Last n lines of the captured server output. */
    tail(n = 80) {
        const lines = this.log.slice(-n);
        return `--- herald output (last ${lines.length} of ${this.log.length} lines) ---\n${lines.join("\n")}`;
    }

    hub(name) {
        return `${this.url}/hubs/${name}`;
    }
}
