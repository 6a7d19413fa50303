// Small helpers shared by the hub suites.

import assert from "node:assert/strict";
import { Collector, unique, withTimeout } from "./client.mjs";

/** Collect every item of a server-to-client stream; resolves with the items when it completes. */
export function collectStream(hub, method, ...args) {
    return new Promise((resolve, reject) => {
        const items = [];
        hub.stream(method, ...args).subscribe({
            next: (v) => items.push(v),
            complete: () => resolve(items),
            error: (e) => reject(Object.assign(e instanceof Error ? e : new Error(String(e)), { items })),
        });
    });
}

/**
 * Prove that the `silent` collectors did not get anything: `sender` broadcasts a marker with SendToAll after
 * the message under test; every connection in `all` must see the marker (messages to one connection keep
 * their order), and after that the silent collectors must still be empty.
 */
export async function assertNotReceived(sender, all, silent, ms = 5000) {
    const marker = unique("marker");
    const markers = all.map((c) => new Collector(c, marker));
    await withTimeout(sender.hub.invoke("SendToAll", marker, "m"), ms, `SendToAll(${marker})`);
    await Promise.all(markers.map((m) => m.next(ms)));
    for (const col of silent) {
        assert.deepEqual(col.items, [], `${col.label} must not receive ${col.method}, got ${JSON.stringify(col.items)}`);
    }
}

/** WhoAmI().connectionId */
export async function connectionIdOf(conn) {
    const me = await conn.hub.invoke("WhoAmI");
    assert.equal(typeof me?.connectionId, "string", `WhoAmI().connectionId must be a string, got ${JSON.stringify(me)}`);
    return me.connectionId;
}
