// The cluster, part 1: every Clients target across nodes on every transport/protocol pair, client
// results across nodes, and two environments on one Redis (see lib/cluster.mjs and
// test/cluster/README.md).

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { Collector, sleep, unique, withTimeout } from "./lib/client.mjs";
import { assertNotReceived, connectionIdOf } from "./lib/hubtests.mjs";
import {
    PAIRS, assertExactlyOnce, clusterSuite, distinctNodes, info, it, onTwoNodes, openPlaced, settle, token,
} from "./lib/cluster.mjs";
import { BlipProxy } from "./lib/proxy.mjs";
import { WS, numberedAcrossBlips } from "./lib/stateful.mjs";

/** herald_hub_stateful_relayed_total of the conformance hub on every node. */
async function relayed(nodes) {
    return Promise.all(nodes.map(async (u) => {
        const text = await (await fetch(`${u}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
        const m = /^herald_hub_stateful_relayed_total\{hub="conformance"\} (\S+)$/m.exec(text);
        return m ? Number(m[1]) : 0;
    }));
}

await clusterSuite("cluster.test.mjs", ["--second-env", "test"], () => {
    for (const pair of PAIRS) {
        describe(pair.name, () => {
            const place = (s, user, opts) => openPlaced(s, {
                lb: info().lb, nodes: info().nodes,
                make: (i) => ({ pair, token: token(typeof user === "function" ? user(i) : user), label: `${pair.name} #${i}` }),
                ...opts,
            });

            it("connections of one user spread over the nodes each get SendToUser once; another user gets nothing", async (s) => {
                await settle(info().nodes);
                const alice = unique("alice-");
                const bob = unique("bob-");
                const conns = await place(s, alice, { want: 3, cover: (cs) => distinctNodes(cs) === info().nodes.length });
                assert.equal(distinctNodes(conns), info().nodes.length,
                    `alice's connections must cover every node: ${conns.map((c) => c.label).join(", ")}`);
                const [b] = await place(s, bob, { want: 1 });
                const m = unique("toUser");
                const cols = conns.map((c) => new Collector(c, m));
                const colB = new Collector(b, m);
                await withTimeout(b.hub.invoke("SendToUser", alice, m, { from: "bob" }), 5000, "SendToUser");
                for (const col of cols) assert.deepEqual(await col.next(5000), { from: "bob" });
                await assertExactlyOnce(b, [...conns, b], cols, [colB]);
            });

            it("SendToAll, SendToOthers and SendToConnection cross nodes", async (s) => {
                await settle(info().nodes);
                const conns = await place(s, (i) => `u${i}-${unique()}`, { want: 3, cover: (cs) => distinctNodes(cs) >= 2 });
                const [a, b] = onTwoNodes(conns);
                const third = conns.find((c) => c !== a && c !== b);

                const all = unique("all");
                const colsAll = conns.map((c) => new Collector(c, all));
                await withTimeout(a.hub.invoke("SendToAll", all, 1), 5000, "SendToAll");
                for (const col of colsAll) assert.equal(await col.next(5000), 1);

                const others = unique("others");
                const colsOthers = conns.map((c) => new Collector(c, others));
                await withTimeout(a.hub.invoke("SendToOthers", others, 2), 5000, "SendToOthers");
                for (const [k, c] of conns.entries()) if (c !== a) assert.equal(await colsOthers[k].next(5000), 2);

                const one = unique("one");
                const colsOne = conns.map((c) => new Collector(c, one));
                await withTimeout(a.hub.invoke("SendToConnection", await connectionIdOf(b), one, 3), 5000, "SendToConnection");
                assert.equal(await colsOne[conns.indexOf(b)].next(5000), 3);

                await assertExactlyOnce(a, conns,
                    [...colsAll, ...colsOthers.filter((_, k) => conns[k] !== a), colsOne[conns.indexOf(b)]],
                    [colsOthers[conns.indexOf(a)], ...colsOne.filter((_, k) => conns[k] !== b)]);
                assert.ok(third, "three connections");
            });

            it("groups: JoinGroup on one node, SendToGroup and SendToOthersInGroup from another, LeaveGroup", async (s) => {
                await settle(info().nodes);
                const conns = await place(s, (i) => `g${i}-${unique()}`, { want: 3, cover: (cs) => distinctNodes(cs) >= 2 });
                const [member, sender] = onTwoNodes(conns);
                const other = conns.find((c) => c !== member && c !== sender);
                const g = unique("group-");
                await withTimeout(member.hub.invoke("JoinGroup", g), 5000, "JoinGroup (member)");
                await withTimeout(other.hub.invoke("JoinGroup", g), 5000, "JoinGroup (other)");

                const m1 = unique("toGroup");
                const c1 = conns.map((c) => new Collector(c, m1));
                await withTimeout(sender.hub.invoke("SendToGroup", g, m1, "g1"), 5000, "SendToGroup");
                assert.equal(await c1[conns.indexOf(member)].next(5000), "g1");
                assert.equal(await c1[conns.indexOf(other)].next(5000), "g1");

                const m2 = unique("othersInGroup");
                const c2 = conns.map((c) => new Collector(c, m2));
                await withTimeout(other.hub.invoke("SendToOthersInGroup", g, m2, "g2"), 5000, "SendToOthersInGroup");
                assert.equal(await c2[conns.indexOf(member)].next(5000), "g2");

                await withTimeout(member.hub.invoke("LeaveGroup", g), 5000, "LeaveGroup");
                const m3 = unique("afterLeave");
                const c3 = conns.map((c) => new Collector(c, m3));
                await withTimeout(sender.hub.invoke("SendToGroup", g, m3, "g3"), 5000, "SendToGroup after LeaveGroup");
                assert.equal(await c3[conns.indexOf(other)].next(5000), "g3");

                const idx = (c) => conns.indexOf(c);
                await assertExactlyOnce(sender, conns,
                    [c1[idx(member)], c1[idx(other)], c2[idx(member)], c3[idx(other)]],
                    [c1[idx(sender)], c2[idx(other)], c2[idx(sender)], c3[idx(member)], c3[idx(sender)]]);
            });

            it("client results: AskConnection answered by a client on another node", async (s) => {
                await settle(info().nodes);
                const conns = await place(s, (i) => `r${i}-${unique()}`, { want: 2, cover: (cs) => distinctNodes(cs) >= 2 });
                const [asker, answerer] = onTwoNodes(conns);
                const m = unique("compute");
                let seen;
                answerer.hub.on(m, (v) => { seen = v; return { doubled: v.n * 2, by: "answerer" }; });
                const r = await withTimeout(asker.hub.invoke("AskConnection", await connectionIdOf(answerer), m, { n: 21 }), 10000, "AskConnection");
                assert.deepEqual(seen, { n: 21 });
                assert.deepEqual(r, { doubled: 42, by: "answerer" });

                const m2 = unique("throws");
                answerer.hub.on(m2, () => { throw new Error("client-side failure"); });
                await assert.rejects(withTimeout(asker.hub.invoke("AskConnection", await connectionIdOf(answerer), m2, 1), 10000, "AskConnection to a throwing handler"));
                assert.equal(await withTimeout(asker.hub.invoke("Echo", "after"), 5000, "Echo after"), "after");
            });
        });
    }


    it("groups: a connection on one node adds and removes a connection on another node, acknowledged", async (s) => {
        await settle(info().nodes);
        const conns = await openPlaced(s, {
            lb: info().lb, nodes: info().nodes, want: 2, cover: (cs) => distinctNodes(cs) >= 2,
            make: (i) => ({ pair: PAIRS[i % PAIRS.length], token: token(`gc${i}-${unique()}`), label: `${PAIRS[i % PAIRS.length].name} #${i}` }),
        });
        const [changer, member] = onTwoNodes(conns);
        const g = unique("remote-group-");
        const m = unique("m");
        const col = new Collector(member, m);
        // AddToGroup returns once the member's node has applied it: a send right after reaches it.
        await withTimeout(changer.hub.invoke("AddToGroup", await connectionIdOf(member), g), 5000, "AddToGroup");
        await withTimeout(changer.hub.invoke("SendToGroup", g, m, "in"), 5000, "SendToGroup");
        assert.equal(await col.next(5000), "in");
        await withTimeout(changer.hub.invoke("RemoveFromGroup", await connectionIdOf(member), g), 5000, "RemoveFromGroup");
        await withTimeout(changer.hub.invoke("SendToGroup", g, m, "out"), 5000, "SendToGroup after remove");
        assert.equal(await withTimeout(member.hub.invoke("Echo", "barrier"), 5000, "Echo"), "barrier");
        await sleep(300);
        assert.deepEqual(col.items, ["in"], "nothing after the remove");
        // A connection no node has: the change fails at once with an error, not after a timeout.
        const t0 = Date.now();
        await assert.rejects(withTimeout(changer.hub.invoke("AddToGroup", "no-such-connection", g), 5000, "AddToGroup unknown"));
        assert.ok(Date.now() - t0 < 2000, "refused at once");
    });

    it("environments sharing one Redis are isolated: same user ids and group names, sends stay in their environment", async (s) => {
        const user = unique("shared-user-");
        const group = unique("shared-group-");
        const env1 = await openPlaced(s, {
            lb: info().lb, nodes: info().nodes, want: 3, cover: (cs) => distinctNodes(cs) >= 2,
            make: (i) => ({ pair: PAIRS[i % PAIRS.length], token: token(user), label: `${info().env} ${PAIRS[i % PAIRS.length].name} #${i}` }),
        });
        const env2 = await openPlaced(s, {
            lb: info().lb2, nodes: info().nodes2, want: 2, cover: (cs) => distinctNodes(cs) >= 2,
            make: (i) => ({ pair: PAIRS[(i + 2) % PAIRS.length], token: token(user), label: `${info().env2} ${PAIRS[(i + 2) % PAIRS.length].name} #${i}` }),
        });
        for (const c of [...env1, ...env2]) await withTimeout(c.hub.invoke("JoinGroup", group), 5000, `JoinGroup on ${c.label}`);

        for (const [mine, theirs, name] of [[env1, env2, info().env], [env2, env1, info().env2]]) {
            const [toUser, toGroup, toAll] = [unique(`${name}-user`), unique(`${name}-group`), unique(`${name}-all`)];
            const got = (conns) => conns.flatMap((c) => [new Collector(c, toUser), new Collector(c, toGroup), new Collector(c, toAll)]);
            const mineCols = got(mine);
            const theirCols = got(theirs);
            const sender = mine[mine.length - 1];
            await withTimeout(sender.hub.invoke("SendToUser", user, toUser, name), 5000, `SendToUser in ${name}`);
            await withTimeout(sender.hub.invoke("SendToGroup", group, toGroup, name), 5000, `SendToGroup in ${name}`);
            await withTimeout(sender.hub.invoke("SendToAll", toAll, name), 5000, `SendToAll in ${name}`);
            for (const col of mineCols) assert.equal(await col.next(5000), name);
            // The other environment got nothing: a marker sent there after ours reaches all of it first.
            await assertNotReceived(theirs[0], theirs, theirCols);
            await sleep(300);
            for (const col of theirCols) assert.deepEqual(col.items, [], `${col.label} is in the other environment and must not get ${col.method}`);
        }
    });

    describe("stateful reconnect across nodes", () => {
        // A load balancer of its own that resets: each new TCP connection goes to the next node, so
        // negotiate, the WebSocket and each resume reach different nodes.
        let proxy;
        after(async () => proxy?.stop());
        for (const pair of WS) {
            it(`${pair.name}: resumed through other nodes (relayed to the connection's node), 1,000 messages once and in order`, async (s) => {
                const nodes = info().nodes;
                proxy ??= await BlipProxy.start(nodes.map(BlipProxy.target));
                const before = await relayed(nodes);
                await numberedAcrossBlips(s, {
                    proxy, pair, secret: info().jwtSecret,
                    rxUrl: `${proxy.url}/hubs/conformance`, txUrl: `${info().lb}/hubs/conformance`,
                });
                const after = await relayed(nodes);
                const n = after.reduce((a, b) => a + b, 0) - before.reduce((a, b) => a + b, 0);
                assert.equal(n, 2, `both resumes went through a relay (relayed per node before ${before}, after ${after})`);
            });
        }
    });
});
