// The users' page: sign in, start an export, watch every task live, toasts and the inbox.
import { html } from "htm/preact";
import { render } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, type Session, type WebConfig } from "./api";
import { useSession } from "./session";
import { download as downloadFile } from "./download";
import { Feed, type MissedReply } from "./feed";
import { Link, type LinkStatus } from "./hub";
import { announcementToast } from "./announce";
import { ExportForm } from "./ui/exportform";
import { Bell, ConnStatus, Inbox } from "./ui/header";
import { Login } from "./ui/login";
import { TaskList } from "./ui/tasks";
import { MAX_TOASTS, Toasts, type Toast } from "./ui/toasts";
import { type Notification, type NotificationList, type ReadChange, type Task, type TaskPage, type TaskState } from "./types";
import "./style.css";

const PAGE = 20;

function App() {
    const s = useSession();
    if (!s.session) return html`<${Login} config=${s.config} message=${s.message} onSignedIn=${s.signedIn} />`;
    return html`<${Home} key=${s.session.token} session=${s.session} config=${s.config} onSignOut=${s.signOut} />`;
}

/** Inserts or replaces t in a newest-first list; the later update wins. */
function upsert(list: Task[], t: Task, filter: TaskState | "", complete: boolean): Task[] {
    const i = list.findIndex((x) => x.id === t.id);
    if (i >= 0) {
        const cur = list[i];
        if (Date.parse(t.updatedAt) < Date.parse(cur.updatedAt)) return list;
        if (filter && t.state !== filter) return list.filter((x) => x.id !== t.id);
        const next = list.slice();
        next[i] = t;
        return next;
    }
    if (filter && t.state !== filter) return list;
    // A task older than the last one shown belongs to a page not loaded yet.
    const last = list[list.length - 1];
    if (!complete && last && t.id < last.id) return list;
    return [...list, t].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

function Home({ session: s, config, onSignOut }: { session: Session; config: WebConfig | null; onSignOut(): void }) {
    const [status, setStatus] = useState<LinkStatus>("connecting");
    const [tasks, setTasks] = useState<Task[]>([]);
    const [filter, setFilterState] = useState<TaskState | "">("");
    const [next, setNext] = useState<string | undefined>();
    const [loading, setLoading] = useState(true);
    const [taskError, setTaskError] = useState("");
    const [notes, setNotes] = useState<Notification[]>([]);
    const [unread, setUnread] = useState(0);
    const [inboxOpen, setInboxOpen] = useState(false);
    const [toasts, setToasts] = useState<Toast[]>([]);

    // The callbacks registered on the hub once read the current values through refs.
    const filterRef = useRef(filter);
    const nextRef = useRef(next);
    nextRef.current = next;
    /** Notifications already toasted or present when the page opened: never toasted (again). */
    const seen = useRef(new Set<string>());
    const opened = useRef(Date.now());
    const configRef = useRef(config);
    configRef.current = config;

    const download = useCallback((url: string, e: Event) => {
        if (configRef.current?.downloadAuth === "owner") {
            e.preventDefault();
            downloadFile(url).catch((err) => toast({ key: "dl" + Date.now(), level: "error", title: "Download failed", body: err.message }));
        }
    }, []);

    const toast = useCallback((t: Toast) => {
        setToasts((list) => [...list.filter((x) => x.key !== t.key), t].slice(-MAX_TOASTS));
    }, []);
    const dismiss = useCallback((key: string) => setToasts((list) => list.filter((x) => x.key !== key)), []);

    const noteToast = useCallback((n: Notification) => {
        if (seen.current.has(n.id)) return;
        seen.current.add(n.id);
        toast({
            key: n.id,
            level: n.level,
            title: n.title,
            body: n.body,
            href: n.link,
            linkLabel: "Download",
            onLink: n.link ? (e: Event) => download(n.link!, e) : undefined,
        });
    }, []);

    const loadTasks = useCallback(async (f: TaskState | "", cursor?: string) => {
        setLoading(true);
        setTaskError("");
        try {
            const q = new URLSearchParams({ limit: String(PAGE) });
            if (f) q.set("state", f);
            if (cursor) q.set("cursor", cursor);
            const page = await api<TaskPage>(`/api/tasks?${q}`);
            if (filterRef.current !== f) return; // the filter changed meanwhile
            setTasks((list) => (cursor ? [...list, ...page.tasks.filter((t) => !list.some((x) => x.id === t.id))] : page.tasks));
            setNext(page.next);
        } catch (e) {
            setTaskError(e instanceof ApiError ? e.message : String(e));
        } finally {
            setLoading(false);
        }
    }, []);

    const loadNotes = useCallback(async (toastMissed: boolean) => {
        try {
            const r = await api<NotificationList>("/api/notifications?limit=50");
            setNotes(r.notifications);
            setUnread(r.unread);
            for (const n of r.notifications) {
                // What arrived while the page was away is toasted once; what was there before, never.
                if (toastMissed && !n.readAt && Date.parse(n.createdAt) >= opened.current) noteToast(n);
                else seen.current.add(n.id);
            }
        } catch {
            /* the bell keeps its count; the next resync tries again */
        }
    }, []);

    useEffect(() => {
        // After a start or a reconnect the page catches up from the feed, or reads the list and the
        // inbox anew when the feed does not reach back (feed.ts).
        const link = new Link({ status: setStatus, resync: () => feed.sync() });
        const feed = new Feed({
            missed: (after) => link.conn.invoke<MissedReply>("Missed", after),
            apply: (target, arg) => {
                switch (target) {
                    case "taskUpdated": {
                        const t = arg as Task;
                        setTasks((list) => upsert(list, t, filterRef.current, nextRef.current === undefined));
                        break;
                    }
                    case "notification": {
                        const n = arg as Notification;
                        if (seen.current.has(n.id)) return;
                        setNotes((list) => [n, ...list.filter((x) => x.id !== n.id)].slice(0, 50));
                        setUnread((u) => u + 1);
                        noteToast(n);
                        break;
                    }
                    case "notificationsRead": {
                        const r = arg as ReadChange;
                        const now = new Date().toISOString();
                        setNotes((list) => list.map((n) => (n.readAt || !(r.all || r.ids?.includes(n.id)) ? n : { ...n, readAt: now })));
                        if (r.unread >= 0) setUnread(r.unread);
                        else void loadNotes(false);
                        break;
                    }
                }
            },
            // What changed while the page was away (a restart, a sleep) shows as it is.
            refetch: async (toastMissed) => {
                await Promise.all([loadTasks(filterRef.current), loadNotes(toastMissed)]);
            },
        });
        for (const target of ["taskUpdated", "notification", "notificationsRead"]) {
            link.on(target, (arg: unknown) => feed.live(target, arg));
        }
        link.on("announcement", (...args: unknown[]) => {
            const t = announcementToast(args);
            if (t) toast(t);
        });
        link.start();
        return () => void link.stop();
    }, []);

    const setFilter = (f: TaskState | "") => {
        filterRef.current = f;
        setFilterState(f);
        setTasks([]);
        void loadTasks(f);
    };

    const cancel = async (t: Task) => {
        try {
            const updated = await api<Task>(`/api/tasks/${encodeURIComponent(t.id)}/cancel`, { method: "POST" });
            setTasks((list) => upsert(list, updated, filterRef.current, nextRef.current === undefined));
        } catch (e) {
            toast({ key: "cancel-" + t.id, level: "error", title: `Could not cancel ${t.title}`, body: (e as Error).message });
        }
    };

    const markRead = async (n: Notification) => {
        try {
            await api(`/api/notifications/${encodeURIComponent(n.id)}/read`, { method: "POST" });
        } catch (e) {
            toast({ key: "read-" + n.id, level: "error", title: "Could not mark it read", body: (e as Error).message });
        }
    };
    const markAll = async () => {
        try {
            await api("/api/notifications/read", { method: "POST" });
        } catch (e) {
            toast({ key: "read-all", level: "error", title: "Could not mark them read", body: (e as Error).message });
        }
    };

    return html`
        <a class="skip" href="#main">Skip to content</a>
        <header class="topbar">
            <span class="brand"><span class="logo" aria-hidden="true"></span><span class="brand-name">Herald</span></span>
            <${ConnStatus} status=${status} />
            <span class="spacer"></span>
            <div class="bell-wrap">
                <${Bell} unread=${unread} open=${inboxOpen} toggle=${() => setInboxOpen(!inboxOpen)} />
                ${inboxOpen && html`<${Inbox} notifications=${notes} unread=${unread} close=${() => {
                    setInboxOpen(false);
                    document.querySelector<HTMLElement>("[data-testid=bell]")?.focus();
                }}
                    markRead=${markRead} markAll=${markAll} download=${(n: Notification, e: Event) => download(n.link!, e)} />`}
            </div>
            <span class="user" data-testid="user">${s.user}</span>
            <button type="button" class="link-button" onClick=${onSignOut}>Sign out<span class="sr-only"> ${s.user}</span></button>
        </header>
        <main id="main" class="content">
            <section class="card" aria-labelledby="new-export-title">
                <h2 id="new-export-title">New export</h2>
                <${ExportForm} onStarted=${(t: Task) => setTasks((list) => upsert(list, t, filterRef.current, true))} />
            </section>
            <section class="card">
                <${TaskList} tasks=${tasks} filter=${filter} setFilter=${setFilter} hasMore=${!!next} loading=${loading}
                    error=${taskError} loadMore=${() => void loadTasks(filterRef.current, next)} cancel=${cancel} download=${download} />
            </section>
        </main>
        <${Toasts} toasts=${toasts} dismiss=${dismiss} />
    `;
}

render(html`<${App} />`, document.getElementById("root")!);
