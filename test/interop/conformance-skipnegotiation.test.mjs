// The conformance hub over WebSockets with skipNegotiation: true (JSON and MessagePack).
import { MATRIX } from "./lib/client.mjs";
import { pairSuite, useServer } from "./lib/conformance-suite.mjs";

useServer();
for (const pair of MATRIX.filter((p) => p.skipNegotiation)) pairSuite(pair);
