// The conformance hub over Server-Sent Events (JSON) and long polling (JSON and MessagePack).
import { MATRIX } from "./lib/client.mjs";
import { pairSuite, useServer } from "./lib/conformance-suite.mjs";

useServer();
for (const name of ["ServerSentEvents/json", "LongPolling/json", "LongPolling/messagepack"]) {
    pairSuite(MATRIX.find((p) => p.name === name));
}
