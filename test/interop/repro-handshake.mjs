// Throwaway repro (not a suite, not run by npm test): "Error parsing handshake response: Error:
// Expected a handshake response from the server." as an unhandled rejection (Node ends the process
// with it) in the official JS client (@microsoft/signalr 10.0.11) with withStatefulReconnect() +
// withAutomaticReconnect(), against one `herald serve` on loopback through a TCP proxy it controls.
//
//   node repro-handshake.mjs [stop|close|refuse] [seconds]      (PATCH=1: with a client-side fix)
//
// stop  (default): the HttpConnection is stopped (here: the client's server timeout, 2 s) while
//        its stateful resume WebSocket is still connecting (the proxy holds it 2.6 s). The resume
//        opens, resend() fails ("not in the 'Connected' State"), _stopConnection() starts an
//        automatic reconnect, and the opened resume socket is never closed: its onmessage still
//        feeds HubConnection._processIncomingData, so the server's Sequence/replay/messages on it
//        reach the NEW connection while it waits for its handshake.
// close: the resume is accepted and closed at once (the proxy hands the client the server's 101
//        and a close frame in one read, and the FIN 250 ms later, FIN_MS): resend() fails, a new
//        connection starts, then the old socket's close runs the old transport's onclose closure
//        again, which calls this.transport.connect(oldUrl) on the NEW transport: a resume of the
//        OLD connection whose Sequence/replay reach the new one.
// refuse: the same blip, the resume refused with 404 before the upgrade: a clean reconnect.
//
// Exits 1 when a handshake parse error or an unhandled rejection happened, 0 otherwise. Bounded:
// gives up after [seconds] (default 20). Stops only the server and proxy it started.

import net from "node:net";
import { buildConnection, mintToken, newSecret, sleep, unique, signalR } from "./lib/client.mjs";
import { HeraldServer, freePort } from "./lib/server.mjs";

const MODE = process.argv[2] ?? "stop";
const LIMIT_S = Number(process.argv[3] ?? 20);
const t0 = Date.now();
const ms = () => String(Date.now() - t0).padStart(6);

// ------------------------------------------------------------------ a proxy we control (loopback)

/** A TCP proxy. cut(holdMs) resets everything and holds new connections; latencyMs delays the
 * server's bytes to the client; closeNextResume makes the next resume WebSocket of connId get the
 * server's 101 plus a close frame in one write, the server side dropped, and the FIN finMs later. */
class Proxy {
    constructor(target) {
        this.target = target;
        this.pairs = new Set();
        this.holdUntil = 0;
        this.latencyMs = 0;
        this.upgrades = new Map(); // connection id -> WebSocket requests seen
        this.closeNextResume = null; // {finMs}
        this.refuseResumes = false;
        this.log = [];
        // allowHalfOpen: the client's FIN (after its close frame) does not end our side: the FIN we
        // send later is what fires the client's close event.
        this.server = net.createServer({ allowHalfOpen: true }, (c) => this.accept(c));
    }

    async start() {
        await new Promise((r) => this.server.listen(0, "127.0.0.1", r));
        this.url = `http://127.0.0.1:${this.server.address().port}`;
        return this;
    }

    accept(client) {
        const pair = { client, upstream: null };
        this.pairs.add(pair);
        client.on("error", () => {});
        client.pause();
        const go = () => {
            if (client.destroyed) return;
            const up = net.connect(this.target.port, this.target.host);
            pair.upstream = up;
            up.on("error", () => client.destroy());
            up.once("connect", () => this.wire(pair));
        };
        const wait = this.holdUntil - Date.now();
        if (wait > 0) setTimeout(go, wait); else go();
    }

    wire(pair) {
        const { client, upstream } = pair;
        let first = true;
        let hijack = null;
        let hijacked = false;
        client.on("data", (chunk) => {
            if (first) {
                first = false;
                const head = chunk.toString("latin1");
                const m = /^GET ([^ ]*[?&]id=([^& ]+)[^ ]*) HTTP/.exec(head);
                if (m && /upgrade: websocket/i.test(head)) {
                    const id = decodeURIComponent(m[2]);
                    const n = (this.upgrades.get(id) ?? 0) + 1;
                    this.upgrades.set(id, n);
                    const what = n === 1 ? "first WebSocket" : `resume #${n - 1}`;
                    this.log.push(`${ms()} proxy: ${what} of ${id.slice(0, 8)}…`);
                    if (n > 1 && this.refuseResumes) {
                        this.log.push(`${ms()} proxy: refused resume #${n - 1} with 404 before the upgrade`);
                        client.end("HTTP/1.1 404 Not Found\r\nContent-Length: 26\r\nConnection: close\r\n\r\nNo Connection with that ID");
                        upstream.destroy();
                        return;
                    }
                    if (n > 1 && this.closeNextResume) {
                        hijack = this.closeNextResume;
                        this.closeNextResume = null;
                    }
                }
            }
            if (!upstream.destroyed) upstream.write(chunk);
        });
        client.on("end", () => upstream.end());
        client.on("close", () => { upstream.destroy(); this.pairs.delete(pair); });
        let buf = Buffer.alloc(0);
        upstream.on("data", (chunk) => {
            if (hijack) {
                // Wait for the end of the server's 101 response, then: 101 + close frame (1011)
                // in one write, drop the server's side, and end the client's TCP finMs later.
                buf = Buffer.concat([buf, chunk]);
                const end = buf.indexOf("\r\n\r\n");
                if (end < 0) return;
                const h = hijack;
                hijack = null;
                hijacked = true;
                const closeFrame = Buffer.from([0x88, 0x02, 0x03, 0xf3]);
                client.write(Buffer.concat([buf.subarray(0, end + 4), closeFrame]));
                upstream.removeAllListeners("data");
                upstream.destroy();
                this.log.push(`${ms()} proxy: resume accepted by the server; sent the client 101 + close frame, FIN in ${h.finMs} ms`);
                setTimeout(() => { this.log.push(`${ms()} proxy: FIN to the client`); client.end(); }, h.finMs);
                return;
            }
            const d = this.latencyMs;
            if (d > 0) setTimeout(() => { if (!client.destroyed) client.write(chunk); }, d);
            else client.write(chunk);
        });
        upstream.on("end", () => {
            const d = this.latencyMs;
            setTimeout(() => client.end(), d);
        });
        upstream.on("close", () => { if (!hijack && !hijacked) setTimeout(() => client.destroy(), this.latencyMs + 5); });
        client.resume();
    }

    cut(holdMs = 0) {
        this.holdUntil = Date.now() + holdMs;
        this.log.push(`${ms()} proxy: cut every connection, hold new ones ${holdMs} ms`);
        for (const { client, upstream } of this.pairs) {
            client.resetAndDestroy();
            upstream?.resetAndDestroy();
        }
        this.pairs.clear();
    }

    async stop() {
        this.cut();
        await new Promise((r) => this.server.close(() => r()));
    }
}

// ------------------------------------------------------------------------------------ the scenario

if (process.env.PATCH === "1") {
    // A client-side fix, to show where the bug is: the stateful onclose closure works on the
    // transport it was installed on (not this.transport when it runs), ignores a transport that was
    // replaced, and closes the socket it opened, detached, before giving up (upstream leaves it open
    // with onreceive still feeding the HubConnection).
    const { createRequire } = await import("node:module");
    const require = createRequire(import.meta.url);
    const { HttpConnection } = require("@microsoft/signalr/dist/cjs/HttpConnection.js");
    const original = HttpConnection.prototype._startTransport;
    HttpConnection.prototype._startTransport = function (url, transferFormat) {
        if (!this.features.reconnect) return original.call(this, url, transferFormat);
        const transport = this.transport;
        const drop = () => { transport.onclose = null; transport.onreceive = null; return transport.stop(); };
        transport.onreceive = this.onreceive;
        // Ours: still current, or cleared by stop() (which waits for _stopConnection).
        const ours = () => this.transport === transport || (this.transport === undefined && this._connectionState === "Disconnecting");
        transport.onclose = async (e) => {
            if (!ours() || !this.features.reconnect) {
                if (ours()) this._stopConnection(e);
                else await drop(); // a late close of a transport already given up
                return;
            }
            try {
                this.features.disconnected();
                await transport.connect(url, transferFormat);
                if (this.transport !== transport || this._connectionState !== "Connected") throw new Error("stopped meanwhile");
                await this.features.resend();
            } catch {
                await drop();
                if (ours()) this._stopConnection(e);
            }
        };
        return transport.connect(url, transferFormat);
    };
    console.log("client patched (PATCH=1)");
}

const unhandled = [];
process.on("unhandledRejection", (e) => {
    // Node's default (--unhandled-rejections=throw) would end the process here with this error as
    // an uncaught exception, as the soak's test process ended.
    unhandled.push(e);
    console.log(`${ms()} UNHANDLED REJECTION (would crash node): ${e?.stack ?? e}`);
});

const SECRET = newSecret("repro");
const serverArgs = MODE === "stop" ? ["--keep-alive-interval", "500ms"] : [];
const server = await HeraldServer.start({ port: await freePort(), jwtSecret: SECRET, extraArgs: serverArgs });
const proxy = await new Proxy({ host: "127.0.0.1", port: Number(new URL(server.url).port) }).start();
const user = unique("repro-");
const rx = buildConnection({
    url: `${proxy.url}/hubs/conformance`, statefulReconnect: true, reconnectDelays: [0, 500, 1000, 2000],
    token: mintToken(SECRET, user), label: "receiver",
    // stop: a short server timeout stands in for whatever stops the HttpConnection mid-resume
    // (HubConnection.serverTimeout, a Close{allowReconnect:true}, a Sequence ahead of the count).
    ...(MODE === "stop" ? { serverTimeoutMs: 2000, keepAliveMs: 500 } : {}),
});
const got = [];
rx.hub.on("num", (n) => got.push(n));
const ev = [];
rx.hub.onreconnecting((e) => ev.push(`${ms()} onreconnecting(${e?.message ?? e})`));
rx.hub.onreconnected((id) => ev.push(`${ms()} onreconnected(${id})`));
rx.hub.onclose((e) => ev.push(`${ms()} onclose(${e?.message ?? e})`));
await rx.hub.start();
const firstId = rx.hub.connectionId;
console.log(`${ms()} receiver connected through the proxy: connection ${firstId}, stateful reconnect ${rx.hub.connection.features.reconnect}`);

// A sender straight to the server: numbered messages to the receiver's user, every 10 ms.
const tx = buildConnection({ url: server.hub("conformance"), token: mintToken(SECRET, unique("tx-")), label: "sender" });
await tx.hub.start();
let sending = true;
const sender = (async () => {
    for (let i = 1; sending; i++) {
        await tx.hub.send("SendToUser", user, "num", i).catch(() => {});
        await sleep(10);
    }
})();
await sleep(1200); // some messages, and the receiver's Acks

if (MODE === "stop") {
    // The WebSocket drops; the client's resume is held 2.6 s, longer than what is left of its 2 s
    // server timeout, shorter than the server's 15 s disconnect timeout.
    proxy.cut(2600);
    // After the hold: slow replies (the new negotiate and WebSocket take a while, as under the
    // soak's 50 ms latency), while the orphaned resume socket keeps receiving.
    setTimeout(() => { proxy.latencyMs = 60; }, 2650);
} else if (MODE === "refuse") {
    // The same blip, the resume refused before the upgrade (as Herald answers a resume it cannot
    // serve: 404/409): the client reconnects afresh, cleanly.
    proxy.refuseResumes = true;
    proxy.cut(0);
    setTimeout(() => { proxy.latencyMs = 80; }, 5);
} else {
    proxy.closeNextResume = { finMs: Number(process.env.FIN_MS ?? 250) };
    proxy.latencyMs = 0;
    proxy.cut(0);
    // The new connection's replies come late, so its start is still pending when the old
    // socket's FIN arrives.
    setTimeout(() => { proxy.latencyMs = 80; }, 5);
}

const deadline = Date.now() + LIMIT_S * 1000;
while (Date.now() < deadline && unhandled.length === 0) {
    if (rx.trace.some((l) => /Error parsing handshake response/.test(l)) && Date.now() - t0 > 0) {
        await sleep(300);
        break;
    }
    await sleep(50);
}
sending = false;
await sender;

const interesting = /WebSocket connected|stopConnection|reconnect|Reconnect|handshake|Sequence|timeout|HttpConnection|Stopping|Starting connection|Selecting transport|Sending negotiation|socket closed|Connection disconnected|\[test\]/i;
console.log("\n--- receiver's client log (selected lines) ---");
for (const l of rx.trace) if (interesting.test(l)) console.log(l.length > 260 ? `${l.slice(0, 260)}…` : l);
console.log("\n--- proxy ---");
for (const l of proxy.log) console.log(l);
console.log("\n--- HubConnection events ---");
for (const l of ev) console.log(l);
const handshakeErrors = rx.trace.filter((l) => /Error parsing handshake response/.test(l)).length;
console.log(`\nmode ${MODE}: handshake parse errors ${handshakeErrors}, unhandled rejections ${unhandled.length}; receiver state ${rx.hub.state}, connection ${rx.hub.connectionId} (first ${firstId}); ${got.length} messages`);
for (const e of unhandled) console.log(`unhandled: ${String(e?.message ?? e)}`);

await Promise.allSettled([rx.hub.stop(), tx.hub.stop()]);
await proxy.stop();
await server.stop();
process.exit(handshakeErrors > 0 || unhandled.length > 0 ? 1 : 0);
