// Server-sent events over fetch, so that the request carries the Authorization header (an
// EventSource cannot). Each `data:` event's JSON goes to onEvent until the signal aborts.
import { ApiError, session } from "../api";

export async function streamEvents(url: string, signal: AbortSignal, onEvent: (e: unknown) => void): Promise<void> {
    const r = await fetch(url, {
        headers: { Accept: "text/event-stream", Authorization: `Bearer ${session()?.token ?? ""}` },
        signal,
    });
    if (!r.ok || !r.body) {
        let code = "http_" + r.status;
        let msg = `Herald answered ${r.status}.`;
        try {
            const e = (await r.json()).error;
            code = e.code ?? code;
            msg = e.message ?? msg;
        } catch {
            /* not JSON */
        }
        throw new ApiError(r.status, code, msg);
    }
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += value;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = block
                .split("\n")
                .filter((l) => l.startsWith("data:"))
                .map((l) => l.slice(5).replace(/^ /, ""))
                .join("\n");
            if (!data) continue; // a comment (": ping")
            try {
                onEvent(JSON.parse(data));
            } catch {
                /* not JSON: skipped */
            }
        }
    }
}
