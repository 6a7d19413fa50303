// A small TCP proxy for network blips: cut() resets every connection through it (both sides see the
// TCP connection die, as when Wi-Fi drops), and hold(ms) keeps the connections made in the next ms
// waiting before they reach the server (the client's reconnect arriving late). Loopback only.

import net from "node:net";

export class BlipProxy {
    /** targets: [{host, port}]; a new connection goes to the next target in turn (a load balancer). */
    constructor(targets) {
        this.targets = targets;
        this.turn = 0;
        this.pairs = new Set();
        this.holdUntil = 0;
        this.accepted = 0;
        this.cuts = 0;
        this.latencyMs = 0;
        this.server = net.createServer((client) => this.accept(client));
    }

    static async start(targets) {
        const p = new BlipProxy(Array.isArray(targets) ? targets : [targets]);
        await new Promise((resolve, reject) => {
            p.server.once("error", reject);
            p.server.listen(0, "127.0.0.1", resolve);
        });
        p.port = p.server.address().port;
        p.url = `http://127.0.0.1:${p.port}`;
        return p;
    }

    /** A target given as a URL ("http://127.0.0.1:8080"). */
    static target(url) {
        const u = new URL(url);
        return { host: u.hostname, port: Number(u.port) };
    }

    accept(client) {
        this.accepted += 1;
        const target = this.targets[this.turn++ % this.targets.length];
        const pair = { client, upstream: null };
        this.pairs.add(pair);
        client.pause();
        client.on("error", () => {});
        client.on("close", () => { pair.upstream?.destroy(); this.pairs.delete(pair); });
        const connect = () => {
            if (client.destroyed) return;
            const upstream = net.connect(target.port, target.host);
            pair.upstream = upstream;
            upstream.on("error", () => client.destroy());
            upstream.on("close", () => { client.destroy(); this.pairs.delete(pair); });
            upstream.on("connect", () => {
                this.pipe(client, upstream);
                this.pipe(upstream, client);
                client.resume();
            });
        };
        const wait = this.holdUntil - Date.now();
        if (wait > 0) setTimeout(connect, wait);
        else connect();
    }

    /** Copy src to dst, each chunk latencyMs late, in order whatever the latency does meanwhile. */
    pipe(src, dst) {
        const queue = [];
        let timer = null;
        const pump = () => {
            timer = null;
            const now = Date.now();
            while (queue.length > 0 && queue[0].due <= now) {
                const { chunk } = queue.shift();
                if (chunk === null) dst.end();
                else if (!dst.destroyed) dst.write(chunk);
            }
            if (queue.length > 0) timer = setTimeout(pump, queue[0].due - now);
        };
        const push = (chunk) => {
            const last = queue.length > 0 ? queue[queue.length - 1].due : 0;
            queue.push({ chunk, due: Math.max(Date.now() + this.latencyMs, last) });
            if (timer === null) pump();
        };
        src.on("data", push);
        src.on("end", () => push(null));
    }

    /** Reset every connection now, and hold those made in the next holdMs. */
    cut(holdMs = 0) {
        this.cuts += 1;
        this.holdUntil = Date.now() + holdMs;
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
