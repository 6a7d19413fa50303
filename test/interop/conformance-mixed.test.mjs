// The conformance hub with connections on different transports and protocols at once.
import { mixedSuite, useServer } from "./lib/conformance-suite.mjs";

useServer();
mixedSuite();
