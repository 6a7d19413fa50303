// The operators' page: live counts with a chart of the last minutes, the live trace, and a
// broadcast to every open page.
import { html } from "htm/preact";
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, type Session } from "./api";
import { useSession } from "./session";
import { Chart } from "./admin/chart";
import { Trace } from "./admin/trace";
import type { Stats } from "./admin/types";
import { bytes, count } from "./format";
import { Login } from "./ui/login";
import "./style.css";

/** Counts are read every POLL ms; the chart keeps HISTORY samples. */
const POLL = 2000;
const HISTORY = 150;

function Admin() {
    const { session: sess, config, message, signedIn, signOut: out } = useSession();
    if (!sess) return html`<${Login} admin config=${config} message=${message} onSignedIn=${signedIn} />`;
    if (!sess.roles.includes("admin"))
        return html`<main id="main" class="login"><div class="card login-card">
            <h1>Operators only</h1>
            <p>This page is for operators: ${sess.user} does not have the <code>admin</code> role.</p>
            <p class="actions"><a class="button secondary" href="/">Go to your tasks</a><button type="button" class="secondary" onClick=${out}>Sign in as someone else</button></p>
        </div></main>`;
    return html`<${Dashboard} session=${sess} onSignOut=${out} />`;
}

function Dashboard({ session: s, onSignOut }: { session: Session; onSignOut(): void }) {
    const [stats, setStats] = useState<Stats | null>(null);
    const [error, setError] = useState("");
    const history = useRef<{ connections: number[]; sends: number[]; running: number[] }>({ connections: [], sends: [], running: [] });

    useEffect(() => {
        let stop = false;
        let timer: ReturnType<typeof setTimeout>;
        const poll = async () => {
            try {
                const st = await api<Stats>("/api/admin/stats");
                if (stop) return;
                const h = history.current;
                const conns = Object.values(st.hubs).reduce((a, x) => a + x.connections, 0);
                h.connections = [...h.connections, conns].slice(-HISTORY);
                h.sends = [...h.sends, st.sends.perSecond].slice(-HISTORY);
                h.running = [...h.running, st.tasks.running ?? 0].slice(-HISTORY);
                setStats(st);
                setError("");
            } catch (e) {
                if (!stop) setError(e instanceof ApiError ? e.message : String(e));
            }
            if (!stop) timer = setTimeout(poll, POLL);
        };
        void poll();
        return () => {
            stop = true;
            clearTimeout(timer);
        };
    }, []);

    const hubs = stats ? Object.keys(stats.hubs).sort() : [];
    const conns = stats ? Object.values(stats.hubs).reduce((a, x) => a + x.connections, 0) : 0;
    const h = history.current;
    return html`
        <a class="skip" href="#main">Skip to content</a>
        <header class="topbar">
            <span class="brand"><span class="logo" aria-hidden="true"></span><span class="brand-name">Herald · </span>Operators</span>
            <span class="spacer"></span>
            <a href="/">Your tasks</a>
            <span class="user" data-testid="user">${s.user}</span>
            <button type="button" class="link-button" onClick=${onSignOut}>Sign out<span class="sr-only"> ${s.user}</span></button>
        </header>
        <main id="main" class="content wide">
            ${error && html`<p class="error-text" role="alert">${error}</p>`}
            <section aria-label="Live counts" class="tiles" data-testid="counts">
                <${Tile} label="Connections" value=${count(conns)} testid="connections" />
                <${Tile} label="Users online" value=${count(stats?.usersOnline ?? 0)} testid="users-online" />
                <${Tile} label="Tasks running" value=${count(stats?.tasks.running ?? 0)} sub=${`${count(stats?.tasks.queued ?? 0)} queued`} testid="running" />
                <${Tile} label="Sends per second" value=${(stats?.sends.perSecond ?? 0).toFixed(1)} sub=${`${count(stats?.sends.total ?? 0)} in all`} testid="sends" />
                <${Tile} label="Nodes" value=${count(stats?.nodes.length ?? 0)} testid="nodes" />
            </section>
            <section class="card" aria-labelledby="chart-title">
                <h2 id="chart-title">The last minutes</h2>
                <${Chart} label="Connections, sends per second and running tasks over the last minutes" seconds=${(HISTORY * POLL) / 1000}
                    series=${[
                        { name: "Connections", className: "s1", points: h.connections },
                        { name: "Sends/s", className: "s2", points: h.sends },
                        { name: "Running tasks", className: "s3", points: h.running },
                    ]} />
            </section>
            <div class="two-col">
                <section class="card" aria-labelledby="nodes-title">
                    <h2 id="nodes-title">Connections per hub and node</h2>
                    <div class="table-wrap"><table>
                        <thead><tr><th scope="col">Node</th>${hubs.map((x) => html`<th scope="col" class="num">${x}</th>`)}</tr></thead>
                        <tbody>
                            ${stats?.nodes.map((n) => html`<tr><td class="mono">${n.id.slice(0, 12)}</td>${hubs.map((x) => html`<td class="num">${count(n.connections[x] ?? 0)}</td>`)}</tr>`)}
                            <tr class="total"><th scope="row">All</th>${hubs.map((x) => html`<td class="num">${count(stats!.hubs[x].connections)} <span class="muted small">(${count(stats!.hubs[x].users)} ${stats!.hubs[x].users === 1 ? "user" : "users"})</span></td>`)}</tr>
                        </tbody>
                    </table></div>
                </section>
                <section class="card" aria-labelledby="tasks-title">
                    <h2 id="tasks-title">Tasks by state</h2>
                    <dl class="states">
                        ${["queued", "running", "succeeded", "failed", "cancelled"].map((k) => html`<div><dt>${k}</dt><dd>${count(stats?.tasks[k] ?? 0)}</dd></div>`)}
                    </dl>
                </section>
            </div>
            <section class="card" aria-labelledby="exports-title">
                <h2 id="exports-title">Exports running</h2>
                ${!stats?.exports.length
                    ? html`<p class="muted">None right now.</p>`
                    : html`<div class="table-wrap"><table>
                          <thead><tr><th scope="col">User</th><th scope="col">Dataset</th><th scope="col">Format</th><th scope="col" class="num">Rows</th><th scope="col" class="num">Written</th><th scope="col" class="num">Rows/s</th><th scope="col" class="num">Throughput</th></tr></thead>
                          <tbody>${stats.exports.map((e) => html`<tr key=${e.id}>
                              <td>${e.user}</td><td>${e.dataset}</td><td>${e.format}</td><td class="num">${count(e.rows)}</td><td class="num">${bytes(e.bytes)}</td>
                              <td class="num">${count(Math.round(e.rowsPerSecond))}</td><td class="num">${bytes(e.bytesPerSecond)}/s</td></tr>`)}</tbody>
                      </table></div>`}
            </section>
            <${Broadcast} />
            <${Trace} hubs=${hubs.length ? hubs : ["notifications"]} />
        </main>
    `;
}

function Tile({ label, value, sub, testid }: { label: string; value: string; sub?: string; testid: string }) {
    return html`<div class="tile card" data-testid=${testid}><span class="muted small">${label}</span><strong>${value}</strong>${sub && html`<span class="muted small">${sub}</span>`}</div>`;
}

function Broadcast() {
    const [message, setMessage] = useState("");
    const [level, setLevel] = useState("info");
    const [status, setStatus] = useState("");
    const [error, setError] = useState("");
    const [busy, setBusy] = useState(false);
    const send = async (e: Event) => {
        e.preventDefault();
        setBusy(true);
        setError("");
        setStatus("");
        try {
            await api("/api/admin/announcements", { body: { message: message.trim(), level } });
            setStatus("Sent to every open page.");
            setMessage("");
        } catch (err) {
            setError(err instanceof ApiError ? err.message : String(err));
        } finally {
            setBusy(false);
        }
    };
    return html`<section class="card" aria-labelledby="broadcast-title">
        <h2 id="broadcast-title">Announce</h2>
        <form class="broadcast" onSubmit=${send} novalidate>
            <div class="field grow">
                <label for="b-message">Message to every open page</label>
                <input id="b-message" value=${message} maxlength="4096" placeholder="Maintenance at 18:00 UTC" aria-invalid=${!!error} aria-describedby=${error ? "b-error" : undefined}
                    onInput=${(e: Event) => setMessage((e.target as HTMLInputElement).value)} />
            </div>
            <div class="field">
                <label for="b-level">Level</label>
                <select id="b-level" value=${level} onChange=${(e: Event) => setLevel((e.target as HTMLSelectElement).value)}>
                    <option value="info">Info</option>
                    <option value="warning">Warning</option>
                </select>
            </div>
            <button class="primary" type="submit" disabled=${busy || !message.trim()}>Send</button>
        </form>
        ${error && html`<p class="field-error" id="b-error" role="alert">${error}</p>`}
        <p class="muted small" role="status">${status}</p>
    </section>`;
}


render(html`<${Admin} />`, document.getElementById("root")!);
