// The cluster, part 3: a node killed with SIGKILL while clients are connected (see lib/cluster.mjs and
// test/cluster/README.md).

import { clusterSuite, nodeDown } from "./lib/cluster.mjs";

await clusterSuite("cluster-kill.test.mjs", [], () => {
    nodeDown({ node: 0, action: "kill", within: 10000 });
});
