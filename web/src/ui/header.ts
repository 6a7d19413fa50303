import { html } from "htm/preact";
import { useEffect, useRef } from "preact/hooks";
import { dateTime, relative } from "../format";
import type { LinkStatus } from "../hub";
import type { Notification } from "../types";

const STATUS_TEXT: Record<LinkStatus, string> = {
    connecting: "Connecting…",
    connected: "Live",
    reconnecting: "Reconnecting…",
    offline: "Offline",
};

/** The connection indicator: live, reconnecting or offline. */
export function ConnStatus({ status }: { status: LinkStatus }) {
    return html`<span class=${`conn conn-${status}`} role="status" data-testid="conn-status" data-status=${status}
        title=${status === "connected" ? "Updates arrive as they happen." : "Updates resume when the connection is back; the page then catches up."}>
        <span class="dot" aria-hidden="true"></span>${STATUS_TEXT[status]}
    </span>`;
}

interface BellProps {
    unread: number;
    open: boolean;
    toggle(): void;
}

export function Bell({ unread, open, toggle }: BellProps) {
    return html`<button type="button" class="bell icon-button" aria-expanded=${open} aria-controls="inbox" data-testid="bell"
        aria-label=${unread ? `Notifications, ${unread} unread` : "Notifications"} onClick=${toggle}>
        <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true"><path fill="currentColor"
            d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z" /></svg>
        ${unread > 0 && html`<span class="badge" data-testid="unread">${unread > 99 ? "99+" : unread}</span>`}
    </button>`;
}

interface InboxProps {
    notifications: Notification[];
    unread: number;
    close(): void;
    markRead(n: Notification): void;
    markAll(): void;
    download(n: Notification, e: Event): void;
}

/** The inbox: the newest notifications, unread first marked; mark one or all read. */
export function Inbox({ notifications, unread, close, markRead, markAll, download }: InboxProps) {
    const ref = useRef<HTMLDivElement>(null);
    useEffect(() => {
        ref.current?.focus();
        const onKey = (e: KeyboardEvent) => e.key === "Escape" && close();
        // A click outside the inbox (and outside the bell, which toggles it) closes it.
        const onClick = (e: MouseEvent) => {
            const t = e.target as Element;
            if (!ref.current?.contains(t) && !t.closest?.("[data-testid=bell]")) close();
        };
        window.addEventListener("keydown", onKey);
        document.addEventListener("click", onClick);
        return () => {
            window.removeEventListener("keydown", onKey);
            document.removeEventListener("click", onClick);
        };
    }, []);
    return html`<div id="inbox" class="inbox card" role="dialog" aria-label="Notifications" tabindex="-1" ref=${ref} data-testid="inbox">
        <div class="inbox-head">
            <h2>Notifications</h2>
            <button type="button" class="link-button" disabled=${unread === 0} onClick=${markAll}>Mark all read</button>
            <button type="button" class="icon-button" aria-label="Close" onClick=${close}>×</button>
        </div>
        ${notifications.length === 0 && html`<p class="muted empty">Nothing yet. When a task finishes, it shows here.</p>`}
        <ul class="inbox-list">
            ${notifications.map(
                (n) => html`<li key=${n.id} class=${`note note-${n.level} ${n.readAt ? "read" : "unread"}`} data-testid="inbox-item">
                    <span class="note-dot" aria-hidden="true"></span>
                    <div class="note-text">
                        <strong>${n.title}</strong>
                        ${n.body && html`<span>${n.body}</span>`}
                        <time datetime=${n.createdAt} title=${dateTime(n.createdAt)}>${relative(n.createdAt)}</time>
                        ${n.link && html`<a href=${n.link} download onClick=${(e: Event) => download(n, e)}>Download</a>`}
                    </div>
                    ${!n.readAt &&
                    html`<button type="button" class="link-button" onClick=${() => markRead(n)}>Mark read<span class="sr-only"> “${n.title}”</span></button>`}
                </li>`,
            )}
        </ul>
    </div>`;
}
