// The cluster, part 4: a node stopped with SIGTERM (drain, Close{allowReconnect: true}) while clients
// are connected (see lib/cluster.mjs and test/cluster/README.md).

import { clusterSuite, nodeDown } from "./lib/cluster.mjs";

await clusterSuite("cluster-sigterm.test.mjs", [], () => {
    nodeDown({ node: 1, action: "term", within: 10000 });
});
