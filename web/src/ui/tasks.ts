import { html } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { bytes, count, dateTime, duration, relative } from "../format";
import { EXPORT_KIND, isActive, isExportResult, TASK_STATES, type Task, type TaskState } from "../types";

interface Props {
    tasks: Task[];
    filter: TaskState | "";
    setFilter(f: TaskState | ""): void;
    hasMore: boolean;
    loading: boolean;
    error: string;
    loadMore(): void;
    cancel(t: Task): Promise<void>;
    download(url: string, e: Event): void;
}

const STATE_LABEL: Record<TaskState, string> = {
    queued: "Queued",
    running: "Running",
    succeeded: "Done",
    failed: "Failed",
    cancelled: "Cancelled",
};

/** The user's tasks, newest first, a page at a time, filtered by state, updated live. */
export function TaskList({ tasks, filter, setFilter, hasMore, loading, error, loadMore, cancel, download }: Props) {
    // Relative times and ETAs move on by themselves.
    const [, tick] = useState(0);
    useEffect(() => {
        const t = setInterval(() => tick((n) => n + 1), 1000);
        return () => clearInterval(t);
    }, []);
    return html`<div class="tasks">
        <div class="tasks-head">
            <h2 id="tasks-title">Your tasks</h2>
            <label class="filter">
                <span>Show</span>
                <select value=${filter} onChange=${(e: Event) => setFilter((e.target as HTMLSelectElement).value as TaskState | "")} data-testid="state-filter">
                    <option value="">All tasks</option>
                    ${TASK_STATES.map((s) => html`<option value=${s}>${STATE_LABEL[s]}</option>`)}
                </select>
            </label>
        </div>
        ${error && html`<p class="error-text" role="alert">${error}</p>`}
        ${!loading && tasks.length === 0 && !error && html`<p class="muted empty">${filter ? "No task in this state." : "No task yet. Start an export above: its progress shows here, live."}</p>`}
        <ul class="task-list" aria-labelledby="tasks-title" aria-busy=${loading}>
            ${tasks.map((t) => html`<${TaskItem} key=${t.id} task=${t} cancel=${cancel} download=${download} />`)}
        </ul>
        ${hasMore && html`<button type="button" class="secondary more" disabled=${loading} onClick=${loadMore}>${loading ? "Loading…" : "Show older tasks"}</button>`}
    </div>`;
}

function TaskItem({ task: t, cancel, download }: { task: Task; cancel(t: Task): Promise<void>; download(url: string, e: Event): void }) {
    const r = isExportResult(t.result) ? t.result : undefined;
    const expired = !!r && (r.expired || !r.downloadUrl || Date.parse(r.expiresAt) < Date.now());
    return html`<li class=${`task task-${t.state}`} data-testid="task" data-task-id=${t.id} data-state=${t.state}>
        <div class="task-main">
            <div class="task-title">
                <strong>${t.title}</strong>
                <span class=${`state state-${t.state}`} data-testid="task-state">${STATE_LABEL[t.state]}</span>
                ${t.attempt > 1 && html`<span class="muted small">attempt ${t.attempt}</span>`}
            </div>
            <div class="muted small">
                <time datetime=${t.createdAt} title=${dateTime(t.createdAt)}>started ${relative(t.createdAt)}</time>
                ${t.finishedAt && t.startedAt && html` · took ${tookText(Date.parse(t.finishedAt) - Date.parse(t.startedAt))}`}
            </div>
            ${t.state === "running" && html`<${ProgressView} task=${t} />`}
            ${t.state === "queued" && html`<p class="muted small" data-testid="progress">${t.attempt > 1 ? "Back in the queue; it starts again when a worker is free." : "Waiting for a worker…"}</p>`}
            ${t.state === "succeeded" &&
            r &&
            html`<div class="result" data-testid="result">
                <span>${r.fileName}</span>
                <span class="muted">${bytes(r.bytes)} · ${count(r.rows)} rows</span>
                ${expired
                    ? html`<span class="expired" data-testid="expired">Expired</span>`
                    : html`<a class="button secondary" href=${r.downloadUrl} download=${r.fileName} data-testid="download"
                          onClick=${(e: Event) => download(r.downloadUrl!, e)}>Download</a>
                          <span class="muted small">link valid until ${dateTime(r.expiresAt)}</span>`}
            </div>`}
            ${t.state === "succeeded" && !r && t.progress.message && html`<p class="muted small">${t.progress.message}</p>`}
            ${t.state === "failed" && html`<p class="error-text small">${t.error || "The task failed."}</p>`}
            ${t.state === "cancelled" && html`<p class="muted small">${t.progress.message || "Cancelled."}</p>`}
        </div>
        ${isActive(t.state) && html`<${CancelControl} task=${t} cancel=${cancel} />`}
    </li>`;
}

/** Cancel asks once more before it throws a task's work away: the first press offers "Yes, cancel"
 * (focused) and "Keep it"; Escape keeps it. */
function CancelControl({ task: t, cancel }: { task: Task; cancel(t: Task): Promise<void> }) {
    const [asking, setAsking] = useState(false);
    const [cancelling, setCancelling] = useState(false);
    const yes = useRef<HTMLButtonElement>(null);
    const ask = useRef<HTMLButtonElement>(null);
    const keep = () => {
        setAsking(false);
        setTimeout(() => ask.current?.focus());
    };
    useEffect(() => {
        if (asking) yes.current?.focus();
    }, [asking]);
    if (!asking) {
        return html`<button type="button" class="secondary" ref=${ask} data-testid="cancel" aria-label=${`Cancel ${t.title}`}
            onClick=${() => setAsking(true)}>Cancel</button>`;
    }
    return html`<div class="confirm" role="group" aria-label=${`Cancel ${t.title}?`}
        onKeyDown=${(e: KeyboardEvent) => e.key === "Escape" && !cancelling && keep()}>
        <span class="small">Cancel this task?</span>
        <button type="button" class="danger" ref=${yes} disabled=${cancelling} data-testid="cancel-confirm"
            onClick=${async () => {
                setCancelling(true);
                try {
                    await cancel(t);
                } finally {
                    setCancelling(false);
                }
            }}>${cancelling ? "Cancelling…" : "Yes, cancel"}</button>
        <button type="button" class="secondary" disabled=${cancelling} data-testid="cancel-keep" onClick=${keep}>Keep it</button>
    </div>`;
}

function tookText(ms: number): string {
    return ms < 1000 ? "under a second" : duration(ms);
}

function ProgressView({ task: t }: { task: Task }) {
    const p = t.progress;
    const known = p.total > 0;
    const pct = Math.max(0, Math.min(100, p.percent || 0));
    const eta = p.eta ? Date.parse(p.eta) - Date.now() : NaN;
    // An export counts rows; other kinds count steps of their own, named in their message.
    const unit = t.kind === EXPORT_KIND ? " rows" : "";
    const parts = [
        known ? `${count(p.done)} of ${count(p.total)}${unit}` : p.done ? `${count(p.done)}${unit}` : "",
        p.bytes ? bytes(p.bytes) : "",
        known ? `${pct.toFixed(pct < 10 ? 1 : 0)}%` : "",
        Number.isFinite(eta) && eta > 0 ? `about ${duration(eta)} left` : "",
    ].filter(Boolean);
    return html`<div class="progress-wrap">
        <div class=${`bar ${known ? "" : "indeterminate"}`} role="progressbar" aria-label=${`${t.title} progress`}
            aria-valuemin="0" aria-valuemax="100" aria-valuenow=${known ? Math.round(pct) : undefined}
            aria-valuetext=${parts.join(", ") || "Starting"}>
            <span class="fill" key=${known ? "known" : "unknown"} style=${{ width: `${known ? pct : 100}%` }}></span>
        </div>
        <div class="muted small" data-testid="progress">${parts.join(" · ") || p.message || "Starting…"}</div>
    </div>`;
}
