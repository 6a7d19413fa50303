// Helpers around the official @microsoft/signalr client: the transport/protocol matrix, connections that
// record every hub message they send and receive (printed when a test fails), collectors, timeouts and
// JWT minting.

import * as signalR from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";
import { createHmac, randomBytes } from "node:crypto";
import { test } from "node:test";

export { signalR, MessagePackHubProtocol };

const T = signalR.HttpTransportType;

/** Every transport/protocol pair the JS client supports, plus WebSockets without negotiate. */
export const MATRIX = [
    { name: "WebSockets/json", transport: T.WebSockets, protocol: "json", transportClass: "WebSocketTransport" },
    { name: "ServerSentEvents/json", transport: T.ServerSentEvents, protocol: "json", transportClass: "ServerSentEventsTransport" },
    { name: "LongPolling/json", transport: T.LongPolling, protocol: "json", transportClass: "LongPollingTransport" },
    { name: "WebSockets/messagepack", transport: T.WebSockets, protocol: "messagepack", transportClass: "WebSocketTransport" },
    { name: "LongPolling/messagepack", transport: T.LongPolling, protocol: "messagepack", transportClass: "LongPollingTransport" },
    { name: "WebSockets/json/skipNegotiation", transport: T.WebSockets, protocol: "json", skipNegotiation: true, transportClass: "WebSocketTransport" },
    { name: "WebSockets/messagepack/skipNegotiation", transport: T.WebSockets, protocol: "messagepack", skipNegotiation: true, transportClass: "WebSocketTransport" },
];

export const MESSAGE_TYPE_NAMES = {
    1: "Invocation", 2: "StreamItem", 3: "Completion", 4: "StreamInvocation", 5: "CancelInvocation",
    6: "Ping", 7: "Close", 8: "Ack", 9: "Sequence",
};

let uniq = 0;
/** A name unique within this test process. */
export function unique(prefix = "x") {
    uniq += 1;
    return `${prefix}${uniq}${randomBytes(3).toString("hex")}`;
}

export function sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
}

/** Resolve/reject with `promise`, or reject after ms with an error naming `what`. */
export function withTimeout(promise, ms, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A promise with its resolve/reject exposed. */
export function deferred() {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
}

// ---------------------------------------------------------------------------------------------- JWT

/** A random HS256 secret (Herald wants at least 32 bytes). */
export function newSecret(name = "s") {
    return `herald-interop-${name}-${randomBytes(16).toString("hex")}`;
}

function b64url(v) {
    return Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
}

/** An HS256 JWT: claims default to {sub, iat: now, exp: now + 1h}; `extra` overrides. */
export function mintToken(secret, sub, extra = {}) {
    const now = Math.floor(Date.now() / 1000);
    const header = b64url({ alg: "HS256", typ: "JWT" });
    const payload = b64url({ sub, iat: now, exp: now + 3600, ...extra });
    const sig = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
    return `${header}.${payload}.${sig}`;
}

/** An unsigned token (alg none). */
export function unsignedToken(sub) {
    const now = Math.floor(Date.now() / 1000);
    return `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ sub, iat: now, exp: now + 3600 })}.`;
}

// --------------------------------------------------------------------------------------- recording

function short(v, max = 400) {
    let s;
    try {
        s = JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? `<${x.length} bytes>` : x));
    } catch {
        s = String(v);
    }
    if (s === undefined) s = String(v);
    return s.length > max ? `${s.slice(0, max)}…(${s.length} chars)` : s;
}

/**
 * Appends to a connection's record; a record with a cap (opts.keep) keeps about its last cap
 * entries, so that a long run (the soak: 400 connections, hours of stream items) does not grow
 * the test process until its garbage collector stalls it.
 */
function record(list, entry) {
    list.push(entry);
    if (list.cap && list.length > 2 * list.cap) list.splice(0, list.length - list.cap);
}

class RecordingLogger {
    constructor(trace) {
        this.trace = trace;
    }

    log(level, message) {
        if (level < signalR.LogLevel.Debug) {
            // Trace: the transports' raw data lines. Keep them, shortened.
            record(this.trace, `${ts()} trace ${message.length > 600 ? `${message.slice(0, 600)}…` : message}`);
            return;
        }
        record(this.trace, `${ts()} ${signalR.LogLevel[level]} ${message}`);
    }
}

function ts() {
    return new Date().toISOString().slice(11, 23);
}

function makeProtocol(name, trace, events) {
    const p = name === "messagepack" ? new MessagePackHubProtocol() : new signalR.JsonHubProtocol();
    const parse = p.parseMessages.bind(p);
    const write = p.writeMessage.bind(p);
    p.parseMessages = (data, logger) => {
        const msgs = parse(data, logger);
        for (const m of msgs) {
            const e = { dir: "in", at: Date.now(), msg: m };
            record(events, e);
            record(trace, `${ts()} <<< ${MESSAGE_TYPE_NAMES[m.type] ?? m.type} ${short(m)}`);
            for (const w of events.waiters.slice()) w(e);
        }
        return msgs;
    };
    p.writeMessage = (m) => {
        const e = { dir: "out", at: Date.now(), msg: m };
        record(events, e);
        record(trace, `${ts()} >>> ${MESSAGE_TYPE_NAMES[m.type] ?? m.type} ${short(m)}`);
        for (const w of events.waiters.slice()) w(e);
        return write(m);
    };
    return p;
}

/**
 * Build (not start) a hub connection.
 * opts: url, pair (a MATRIX entry, default WebSockets/json), token | accessTokenFactory, reconnectDelays,
 * reconnectForever (instead of reconnectDelays: retry without end), label, httpOptions (extra withUrl
 * options), keep (the log lines and messages kept: about the last
 * keep of each; default all).
 */
export function buildConnection(opts) {
    const pair = opts.pair ?? MATRIX[0];
    const trace = [];
    const events = [];
    trace.cap = events.cap = opts.keep ?? 0;
    events.waiters = [];
    const httpOptions = { logMessageContent: true, ...(opts.httpOptions ?? {}) };
    if (pair.transport !== undefined && pair.transport !== null) httpOptions.transport = pair.transport;
    if (pair.skipNegotiation) httpOptions.skipNegotiation = true;
    if (opts.accessTokenFactory) httpOptions.accessTokenFactory = opts.accessTokenFactory;
    else if (opts.token) httpOptions.accessTokenFactory = () => opts.token;

    let b = new signalR.HubConnectionBuilder()
        .withUrl(opts.url, httpOptions)
        .withHubProtocol(makeProtocol(pair.protocol ?? "json", trace, events))
        .configureLogging(new RecordingLogger(trace));
    if (opts.reconnectDelays) b = b.withAutomaticReconnect(opts.reconnectDelays);
    else if (opts.reconnectForever) {
        // As Herald's web app does: retry without end, at most every 2 s.
        b = b.withAutomaticReconnect({ nextRetryDelayInMilliseconds: (r) => [0, 500, 1000][r.previousRetryCount] ?? 2000 });
    }
    if (opts.statefulReconnect) b = b.withStatefulReconnect();
    if (opts.serverTimeoutMs) b = b.withServerTimeout(opts.serverTimeoutMs);
    if (opts.keepAliveMs) b = b.withKeepAliveInterval(opts.keepAliveMs);
    const hub = b.build();

    const label = opts.label ?? pair.name;
    const closed = deferred();
    hub.onclose((err) => {
        trace.push(`${ts()} [test] onclose(${err ? `Error: ${err.message}` : err})`);
        closed.resolve(err);
    });
    return {
        hub,
        pair,
        label,
        trace,
        events,
        /** resolves with onclose's argument */
        closed: closed.promise,
        /** Wait for a recorded message (dir "in"/"out") matching pred; looks at history first. */
        waitMessage(pred, ms, what) {
            const hit = events.find(pred);
            if (hit) return Promise.resolve(hit);
            const d = deferred();
            const w = (e) => {
                if (pred(e)) {
                    events.waiters.splice(events.waiters.indexOf(w), 1);
                    d.resolve(e);
                }
            };
            events.waiters.push(w);
            return withTimeout(d.promise, ms, `${what} on ${label}`).finally(() => {
                const i = events.waiters.indexOf(w);
                if (i >= 0) events.waiters.splice(i, 1);
            });
        },
        dump(maxLines = 120) {
            const lines = trace.slice(-maxLines);
            return `--- client ${label} (state ${hub.state}, id ${hub.connectionId}) last ${lines.length} of ${trace.length} log lines ---\n${lines.join("\n")}`;
        },
    };
}

/** Collects the values a client method receives; `next()` waits for the next unseen one. */
export class Collector {
    constructor(conn, method) {
        this.items = [];
        this.read = 0;
        this.waiters = [];
        this.label = conn.label;
        this.method = method;
        conn.hub.on(method, (...args) => {
            this.items.push(args.length === 1 ? args[0] : args);
            for (const w of this.waiters.splice(0)) w();
        });
    }

    async next(ms = 5000) {
        while (this.read >= this.items.length) {
            const d = deferred();
            this.waiters.push(d.resolve);
            await withTimeout(d.promise, ms, `${this.method}(...) on ${this.label}`);
        }
        return this.items[this.read++];
    }
}

/**
 * Test wrapper: gives the body a Scope that tracks connections (stopped afterwards) and, when the body
 * throws, prints the server output and the recorded client traces to stderr before failing.
 * `getServers` returns the HeraldServer(s) involved (called lazily, they are created in before()).
 */
let activeScope = null;

/** The Scope of the test that is running (tests run one at a time). */
export function currentScope() {
    return activeScope;
}

/**
 * fetch that notes method, URL, status and (for non-streaming replies) the body in the running test's
 * Scope, so a failure shows the HTTP exchange.
 */
export async function hfetch(url, init = {}) {
    const scope = activeScope;
    const t0 = Date.now();
    let r;
    try {
        r = await fetch(url, init);
    } catch (e) {
        scope?.note(`${ts()} HTTP ${init.method ?? "GET"} ${url} -> ${e.message}`);
        throw e;
    }
    const streaming = /event-stream/.test(r.headers.get("content-type") ?? "");
    let body = "";
    if (!streaming) {
        try { body = await r.clone().text(); } catch { /* ignore */ }
    }
    const hdrs = [...r.headers].map(([k, v]) => `${k}: ${v}`).join("; ");
    scope?.note(`${ts()} HTTP ${init.method ?? "GET"} ${url} -> ${r.status} after ${Date.now() - t0} ms [${hdrs}] ${streaming ? "(stream)" : JSON.stringify(body.length > 500 ? `${body.slice(0, 500)}…` : body)}`);
    return r;
}

export function itWith(name, getServers, fn, opts = {}) {
    return test(name, opts, async (t) => {
        const scope = new Scope();
        activeScope = scope;
        try {
            await fn(scope, t);
        } catch (e) {
            let servers = [];
            try { servers = [getServers?.()].flat().filter(Boolean); } catch { /* ignore */ }
            const parts = [`\n======== FAILED: ${name}\n${e?.stack ?? e}`];
            for (const s of servers) parts.push(s.tail(80));
            for (const c of scope.conns) parts.push(c.dump());
            for (const n of scope.notes) parts.push(n);
            process.stderr.write(`${parts.join("\n")}\n======== end of diagnostics for: ${name}\n`);
            throw e;
        } finally {
            await scope.close();
            if (activeScope === scope) activeScope = null;
        }
    });
}

export class Scope {
    constructor() {
        this.conns = [];
        this.notes = [];
    }

    /** Build a connection (see buildConnection) and remember it for cleanup and diagnostics. */
    build(opts) {
        const c = buildConnection(opts);
        this.conns.push(c);
        return c;
    }

    /** Build and start a connection; rejects if start() fails within 15 s. */
    async connect(opts) {
        const c = this.build(opts);
        await withTimeout(c.hub.start(), 15000, `start() of ${c.label}`);
        return c;
    }

    note(s) {
        this.notes.push(s);
    }

    async close() {
        await Promise.allSettled(this.conns.map((c) => withTimeout(c.hub.stop(), 5000, `stop() of ${c.label}`)));
    }
}
