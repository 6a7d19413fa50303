// The conformance hub over WebSockets, JSON and MessagePack (with negotiate).
import { MATRIX } from "./lib/client.mjs";
import { pairSuite, useServer } from "./lib/conformance-suite.mjs";

useServer();
for (const name of ["WebSockets/json", "WebSockets/messagepack"]) pairSuite(MATRIX.find((p) => p.name === name));
