import { html } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { saveBlob } from "../download";
import { streamEvents } from "./sse";
import type { TraceEvent } from "./types";

const TYPES = ["connected", "disconnected", "invocation", "send"];
/** Events kept on screen and for the export: the oldest go first. */
const KEEP = 2000;

interface Filter {
    hub: string;
    user: string;
    connection: string;
    types: string[];
    payload: boolean;
}

/**
 * The live trace: connection and message events across the cluster, filtered by hub, user,
 * connection and type; pausable (events wait while paused, up to KEEP); exportable as JSON Lines.
 */
export function Trace({ hubs }: { hubs: string[] }) {
    const [filter, setFilter] = useState<Filter>({ hub: "", user: "", connection: "", types: [...TYPES], payload: false });
    const [running, setRunning] = useState(false);
    const [paused, setPaused] = useState(false);
    const [events, setEvents] = useState<TraceEvent[]>([]);
    const [waiting, setWaiting] = useState(0);
    const [error, setError] = useState("");
    const held = useRef<TraceEvent[]>([]);
    const pausedRef = useRef(false);
    pausedRef.current = paused;
    const abort = useRef<AbortController | null>(null);

    useEffect(() => () => abort.current?.abort(), []);

    const start = () => {
        abort.current?.abort();
        const ac = new AbortController();
        abort.current = ac;
        const q = new URLSearchParams();
        if (filter.hub) q.set("hub", filter.hub);
        if (filter.user.trim()) q.set("user", filter.user.trim());
        if (filter.connection.trim()) q.set("connection", filter.connection.trim());
        if (filter.types.length && filter.types.length < TYPES.length) q.set("type", filter.types.join(","));
        if (filter.payload) q.set("payload", "true");
        setError("");
        setRunning(true);
        streamEvents(`/api/admin/trace?${q}`, ac.signal, (e) => {
            const ev = e as TraceEvent;
            if (pausedRef.current) {
                held.current.push(ev);
                if (held.current.length > KEEP) held.current.shift();
                setWaiting(held.current.length);
            } else setEvents((list) => [...list, ev].slice(-KEEP));
        })
            .catch((e: Error) => {
                if (e.name !== "AbortError") setError(e.message);
            })
            .finally(() => {
                if (abort.current === ac) setRunning(false);
            });
    };
    const stop = () => {
        abort.current?.abort();
        abort.current = null;
        setRunning(false);
    };
    const togglePause = () => {
        if (paused) {
            const h = held.current;
            held.current = [];
            setWaiting(0);
            setEvents((list) => [...list, ...h].slice(-KEEP));
        }
        setPaused(!paused);
    };
    const exportJSONL = () =>
        saveBlob(
            new Blob([events.map((e) => JSON.stringify(e)).join("\n") + "\n"], { type: "application/x-ndjson" }),
            `herald-trace-${new Date().toISOString().replace(/[:.]/g, "-")}.jsonl`,
        );
    const set = (k: keyof Filter, v: unknown) => setFilter({ ...filter, [k]: v });

    return html`<section class="card trace" aria-labelledby="trace-title">
        <h2 id="trace-title">Live trace</h2>
        <p class="muted small">Connection and message events across the cluster as they happen. Tracing costs nothing while nobody watches. Payloads are left out unless asked.</p>
        <form class="trace-filters" onSubmit=${(e: Event) => { e.preventDefault(); start(); }}>
            <div class="field">
                <label for="t-hub">Hub</label>
                <select id="t-hub" value=${filter.hub} onChange=${(e: Event) => set("hub", (e.target as HTMLSelectElement).value)}>
                    <option value="">Every hub</option>
                    ${hubs.map((h) => html`<option value=${h}>${h}</option>`)}
                </select>
            </div>
            <div class="field">
                <label for="t-user">User</label>
                <input id="t-user" value=${filter.user} placeholder="Any user" onInput=${(e: Event) => set("user", (e.target as HTMLInputElement).value)} />
            </div>
            <div class="field">
                <label for="t-conn">Connection</label>
                <input id="t-conn" value=${filter.connection} placeholder="Any connection" onInput=${(e: Event) => set("connection", (e.target as HTMLInputElement).value)} />
            </div>
            <fieldset class="types">
                <legend>Events</legend>
                ${TYPES.map(
                    (t) => html`<label><input type="checkbox" checked=${filter.types.includes(t)}
                        onChange=${(e: Event) => set("types", (e.target as HTMLInputElement).checked ? [...filter.types, t] : filter.types.filter((x) => x !== t))} />${t}</label>`,
                )}
            </fieldset>
            <div class="field check">
                <label><input type="checkbox" checked=${filter.payload} onChange=${(e: Event) => set("payload", (e.target as HTMLInputElement).checked)} />Show payloads</label>
            </div>
            <div class="actions">
                <button class="primary" type="submit" data-testid="trace-start">${running ? "Apply filters" : "Start tracing"}</button>
                ${running && html`<button type="button" class="secondary" onClick=${stop}>Stop</button>`}
                <button type="button" class="secondary" onClick=${togglePause} aria-pressed=${paused} disabled=${!running && !paused}>${paused ? `Resume${waiting ? ` (${waiting} waiting)` : ""}` : "Pause"}</button>
                <button type="button" class="secondary" onClick=${() => setEvents([])} disabled=${!events.length}>Clear</button>
                <button type="button" class="secondary" onClick=${exportJSONL} disabled=${!events.length}>Export JSON Lines</button>
                <span class="muted small" role="status">${running ? (paused ? "Paused" : "Tracing…") : "Stopped"} · ${events.length} events</span>
            </div>
        </form>
        ${error && html`<p class="error-text" role="alert">${error}</p>`}
        <div class="table-wrap">
            <table class="events" data-testid="trace-events">
                <thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Hub</th><th scope="col">User</th><th scope="col">Connection</th><th scope="col">Detail</th></tr></thead>
                <tbody>
                    ${events.length === 0 && html`<tr><td colspan="6" class="muted">${running ? "Waiting for events…" : "Start tracing to see events."}</td></tr>`}
                    ${events.slice(-300).reverse().map((e, i) => html`<tr key=${events.length - i} data-type=${e.type} data-testid="trace-event">
                        <td><time datetime=${e.time}>${e.time?.slice(11, 23)}</time></td>
                        <td><span class=${`ev ev-${e.type}`}>${e.type}</span></td>
                        <td>${e.hub}</td>
                        <td>${e.user ?? (e.scope === "user" ? e.to : "")}</td>
                        <td class="mono">${e.connection}</td>
                        <td>${detail(e)}</td>
                    </tr>`)}
                </tbody>
            </table>
        </div>
    </section>`;
}

function detail(e: TraceEvent): string {
    switch (e.type) {
        case "connected":
            return [e.transport, e.protocol, e.node && `node ${e.node.slice(0, 8)}`].filter(Boolean).join(" · ");
        case "disconnected":
            return [e.reason || "closed", e.transport].filter(Boolean).join(" · ");
        case "invocation":
            return [e.target, e.size !== undefined && `${e.size} B`, e.payload !== undefined && JSON.stringify(e.payload)].filter(Boolean).join(" · ");
        case "send":
            return [e.target, e.scope && `to ${e.scope}${e.to ? ` ${e.to}` : ""}`, e.size !== undefined && `${e.size} B`, e.payload !== undefined && JSON.stringify(e.payload)]
                .filter(Boolean)
                .join(" · ");
        case "dropped":
            return `${e.count ?? "some"} events dropped (the trace could not keep up)`;
        default:
            return "";
    }
}
