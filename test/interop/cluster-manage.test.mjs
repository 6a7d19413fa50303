// The cluster, management API: serverless clients of the hub "orders" (negotiated by a backend in this
// process that redirects them to the load balancer's /client/?hub=orders, tokens signed with the access
// key every node shares) spread over the 3 nodes, and REST calls sent to one node's own URL that must act
// on connections held by the others: sends to a user, group changes, a user's group membership, closing a
// user's connections, existence checks (see lib/cluster.mjs and test/cluster/README.md).

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import { after, before } from "node:test";
import { Collector, hfetch, sleep, unique, withTimeout } from "./lib/client.mjs";
import {
    PAIRS, clusterSuite, distinctNodes, info, it, openPlaced, settle, waitUntil,
} from "./lib/cluster.mjs";

const API = "api-version=2022-06-01";
const HUB = "orders";
const enc = encodeURIComponent;
const now = () => Math.floor(Date.now() / 1000);

/** An HS256 JWT signed with the UTF-8 bytes of key, as the hosted service's SDKs sign. */
function signJwt(key, claims) {
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const head = b64({ alg: "HS256", typ: "JWT" });
    const body = b64(claims);
    const sig = createHmac("sha256", Buffer.from(key, "utf8")).update(`${head}.${body}`).digest("base64url");
    return `${head}.${body}.${sig}`;
}

/** The application's negotiate endpoint: POST /negotiate?user=U redirects U to the load balancer. */
function startBackend() {
    const srv = createServer((req, res) => {
        const u = new URL(req.url, "http://backend");
        req.resume();
        if (req.method !== "POST" || u.pathname !== "/negotiate") {
            res.writeHead(404, { "Content-Type": "text/plain" }).end("not the negotiate endpoint");
            return;
        }
        const url = `${info().lb}/client/?hub=${HUB}`;
        const accessToken = signJwt(info().accessKey, { aud: url, nameid: u.searchParams.get("user"), iat: now(), exp: now() + 3600 });
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ url, accessToken }));
    });
    return new Promise((resolve, reject) => {
        srv.on("error", reject);
        srv.listen(0, "127.0.0.1", () => resolve({
            url: `http://127.0.0.1:${srv.address().port}`,
            close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(() => r()); }),
        }));
    });
}

const backend = { current: null };

/**
 * A management API call to `base` (a node's own URL, or the load balancer): token signed with the
 * cluster's access key, aud = the URL without its query. Resolves {status, text, body}.
 */
async function rest(base, method, pathAndQuery, body) {
    const url = `${base}${pathAndQuery}`;
    const headers = { Authorization: `Bearer ${signJwt(info().accessKey, { aud: url.split("?")[0], exp: now() + 60 })}` };
    const init = { method, headers };
    if (body !== undefined) {
        init.body = JSON.stringify(body);
        headers["Content-Type"] = "application/json";
    }
    const r = await withTimeout(hfetch(url, init), 12000, `${method} ${url}`);
    const text = method === "HEAD" ? "" : await r.text();
    let parsed = null;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, text, body: parsed };
}

async function expectStatus(base, method, pathAndQuery, want, body) {
    const r = await rest(base, method, pathAndQuery, body);
    assert.equal(r.status, want, `${method} ${base}${pathAndQuery}: ${r.status} ${r.text}`);
    return r;
}

const send = (base, path, target, args) => expectStatus(base, "POST", `${path}?${API}`, 202, { target, arguments: args });

/** Serverless connections through the load balancer, each placed on its node (.node) by its /metrics. */
function place(s, user, opts) {
    return openPlaced(s, {
        lb: info().lb, nodes: info().nodes, hub: HUB,
        make: (i) => {
            const u = typeof user === "function" ? user(i) : user;
            const pair = PAIRS[i % PAIRS.length];
            return { url: `${backend.current.url}/?user=${enc(u)}`, pair, label: `${u} ${pair.name} #${i}` };
        },
        ...opts,
    });
}

const labels = (cs) => cs.map((c) => c.label).join(", ");

/** After the values arrived: a marker sent to each connection, then a moment for late duplicates. */
async function settleDuplicates(base, conns) {
    const marker = unique("marker");
    const cols = conns.map((c) => new Collector(c, marker));
    for (const c of conns) await send(base, `/api/hubs/${HUB}/connections/${enc(c.hub.connectionId)}/:send`, marker, ["m"]);
    for (const col of cols) await col.next(5000);
    await sleep(300);
}

await clusterSuite("cluster-manage.test.mjs", [], () => {
    before(async () => { backend.current = await startBackend(); });
    after(async () => { await backend.current?.close(); });

    it("a REST send to a user, through each node's own URL in turn, reaches every connection of the user on every node exactly once", async (s, t) => {
        await settle(info().nodes, HUB);
        const nodes = info().nodes;
        const alice = unique("alice-");
        const conns = await place(s, alice, { want: 3, cover: (cs) => distinctNodes(cs) === nodes.length });
        assert.equal(distinctNodes(conns), nodes.length, `alice's connections must cover every node: ${labels(conns)}`);
        assert.ok(conns.every((c) => c.node >= 0), `every connection's node is known: ${labels(conns)}`);
        const [bob] = await place(s, unique("bob-"), { want: 1 });
        t.diagnostic(`placement: ${labels([...conns, bob])}`);

        const m = unique("toUser");
        const cols = conns.map((c) => new Collector(c, m));
        const bobCol = new Collector(bob, m);
        const sent = nodes.map((_, i) => ({ via: i, n: 2 ** 40 + i, o: { nested: [1.5, null, "x"] } }));
        for (const [i, base] of nodes.entries()) await send(base, `/api/hubs/${HUB}/users/${enc(alice)}/:send`, m, [sent[i]]);
        await withTimeout(waitUntil(async () => cols.every((c) => c.items.length >= nodes.length), 5000, "every send on every connection"), 6000, "every send")
            .catch((e) => { throw new Error(`${e.message}: ${cols.map((c) => `${c.label} got ${JSON.stringify(c.items)}`).join("; ")}`); });
        await settleDuplicates(info().lb, [...conns, bob]);
        const byVia = (xs) => [...xs].sort((a, b) => a.via - b.via);
        for (const col of cols) assert.deepEqual(byVia(col.items), sent, `${col.label} gets each node's send exactly once`);
        assert.deepEqual(bobCol.items, [], "another user gets nothing");
    });

    it("a connection added to a group through a node that does not hold it gets the group's sends; removed through it, no more", async (s) => {
        await settle(info().nodes, HUB);
        const nodes = info().nodes;
        const conns = await place(s, (i) => `g${i}-${unique()}`, { want: 2, cover: (cs) => distinctNodes(cs) >= 2 && cs[0].node >= 0 });
        const member = conns[0];
        assert.ok(member.node >= 0, `the member's node is known: ${labels(conns)}`);
        const others = conns.slice(1);
        const changer = nodes[(member.node + 1) % nodes.length];
        const sender = nodes[(member.node + 2) % nodes.length];
        s.note(`[test] member ${member.label}; group changes through ${changer}, sends through ${sender}`);
        const g = unique("group-");
        const path = `/api/hubs/${HUB}/groups/${enc(g)}/connections/${enc(member.hub.connectionId)}?${API}`;

        await expectStatus(changer, "PUT", path, 200);
        await expectStatus(sender, "HEAD", `/api/hubs/${HUB}/groups/${enc(g)}?${API}`, 200);
        const m = unique("toGroup");
        const col = new Collector(member, m);
        const otherCols = others.map((c) => new Collector(c, m));
        // The PUT returns once the member's node has applied it: a send right after reaches it.
        await send(sender, `/api/hubs/${HUB}/groups/${enc(g)}/:send`, m, ["in", 1.5]);
        assert.deepEqual(await col.next(5000), ["in", 1.5]);

        await expectStatus(changer, "DELETE", path, 200);
        await send(sender, `/api/hubs/${HUB}/groups/${enc(g)}/:send`, m, ["out", 2]);
        await settleDuplicates(sender, conns);
        assert.deepEqual(col.items, [["in", 1.5]], "once in the group, nothing after the remove");
        for (const oc of otherCols) assert.deepEqual(oc.items, [], `${oc.label} is not in the group`);
        await expectStatus(changer, "HEAD", `/api/hubs/${HUB}/groups/${enc(g)}?${API}`, 404);
    });

    it("a user's group membership made through node 0 makes a connection the user opens later on node 2 join the group", async (s) => {
        await settle(info().nodes, HUB);
        const nodes = info().nodes;
        const user = unique("carol-");
        const g = unique("team-");
        await expectStatus(nodes[0], "PUT", `/api/hubs/${HUB}/users/${enc(user)}/groups/${enc(g)}?${API}`, 200);
        await expectStatus(nodes[2], "HEAD", `/api/hubs/${HUB}/users/${enc(user)}/groups/${enc(g)}?${API}`, 200);

        const conns = await place(s, user, { want: 1, max: 20, cover: (cs) => cs.some((c) => c.node === 2) });
        const late = conns.find((c) => c.node === 2);
        assert.ok(late, `a connection of ${user} on node 2: ${labels(conns)}`);
        const [outsider] = await place(s, unique("dave-"), { want: 1 });
        const m = unique("toTeam");
        const cols = conns.map((c) => new Collector(c, m));
        const outCol = new Collector(outsider, m);
        await send(nodes[1], `/api/hubs/${HUB}/groups/${enc(g)}/:send`, m, ["team news"]);
        // The one on node 2 first (the point of the test), then every other connection of the user.
        const order = [conns.indexOf(late), ...conns.keys()].filter((k, i, a) => a.indexOf(k) === i);
        for (const k of order) assert.equal(await cols[k].next(5000), "team news", `${cols[k].label} is in the group as ${user}`);
        await settleDuplicates(nodes[1], [...conns, outsider]);
        for (const col of cols) assert.equal(col.items.length, 1, `${col.label} gets it once: ${JSON.stringify(col.items)}`);
        assert.deepEqual(outCol.items, [], "another user is not in the group");
    });

    it("closing a user's connections through node 1 closes the ones on the other nodes, with the reason; others stay", async (s) => {
        await settle(info().nodes, HUB);
        const nodes = info().nodes;
        const user = unique("erin-");
        const conns = await place(s, user, {
            want: 2, max: 20, cover: (cs) => cs.some((c) => c.node === 0) && cs.some((c) => c.node === 2),
        });
        assert.ok(conns.some((c) => c.node === 0) && conns.some((c) => c.node === 2), `connections of ${user} on nodes 0 and 2: ${labels(conns)}`);
        const bystanders = await place(s, (i) => `frank${i}-${unique()}`, { want: 2, cover: (cs) => distinctNodes(cs) >= 2 });
        const reason = unique("maintenance-");

        await expectStatus(nodes[1], "POST", `/api/hubs/${HUB}/users/${enc(user)}/:closeConnections?${API}&reason=${enc(reason)}`, 204);
        for (const c of conns) {
            const err = await withTimeout(c.closed, 5000, `onclose of ${c.label}`);
            assert.ok(err instanceof Error, `${c.label}: onclose(${err})`);
            assert.ok(err.message.includes(reason), `${c.label}: the close error names the reason: ${err.message}`);
        }
        await waitUntil(async () => (await rest(nodes[1], "HEAD", `/api/hubs/${HUB}/users/${enc(user)}?${API}`)).status === 404,
            5000, `${user} to have no connection left`);

        const m = unique("stillHere");
        const cols = bystanders.map((c) => new Collector(c, m));
        for (const c of bystanders) assert.equal(c.hub.state, "Connected", `${c.label} is not closed`);
        await send(nodes[1], `/api/hubs/${HUB}/:send`, m, ["ok"]);
        for (const col of cols) assert.equal(await col.next(5000), "ok");
    });

    it("HEAD user (and connection) exists is answered true through a node that holds none of the user's connections", async (s) => {
        await settle(info().nodes, HUB);
        const nodes = info().nodes;
        const user = unique("gina-");
        const [c] = await place(s, user, { want: 1, max: 10, cover: (cs) => cs[0].node >= 0 });
        assert.ok(c.node >= 0, `the node of ${c.label} is known`);
        const elsewhere = nodes.filter((_, i) => i !== c.node);
        for (const base of elsewhere) {
            await expectStatus(base, "HEAD", `/api/hubs/${HUB}/users/${enc(user)}?${API}`, 200);
            await expectStatus(base, "HEAD", `/api/hubs/${HUB}/connections/${enc(c.hub.connectionId)}?${API}`, 200);
            await expectStatus(base, "HEAD", `/api/hubs/${HUB}/users/${enc(`${user}-nobody`)}?${API}`, 404);
        }
        await withTimeout(c.hub.stop(), 5000, "stop()");
        await waitUntil(async () => (await rest(elsewhere[0], "HEAD", `/api/hubs/${HUB}/users/${enc(user)}?${API}`)).status === 404,
            5000, `${user} to be gone through ${elsewhere[0]}`);
    });
});
