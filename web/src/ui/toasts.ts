import { html } from "htm/preact";
import { useEffect, useRef } from "preact/hooks";

export interface Toast {
    key: string;
    level: "info" | "success" | "error" | "warning";
    title: string;
    body?: string;
    /** A link to follow (a download), with its label. */
    href?: string;
    linkLabel?: string;
    onLink?: (e: Event) => void;
}

/** How long a toast stays, unless the pointer or the focus is on it. */
const TOAST_MS = 8000;
/** At most this many at once: the oldest goes first. */
export const MAX_TOASTS = 5;

/**
 * The toasts, in an ARIA live region: a screen reader announces each as it appears (errors
 * assertively). Each goes by itself after a while, or with its close button.
 */
export function Toasts({ toasts, dismiss }: { toasts: Toast[]; dismiss(key: string): void }) {
    return html`<div class="toasts" role="region" aria-label="Notifications">
        <div aria-live="polite" aria-relevant="additions" class="toast-stack">
            ${toasts.map((t) => html`<${ToastView} key=${t.key} toast=${t} dismiss=${dismiss} />`)}
        </div>
    </div>`;
}

function ToastView({ toast, dismiss }: { toast: Toast; dismiss(key: string): void }) {
    const held = useRef(false);
    const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
    const arm = () => {
        clearTimeout(timer.current);
        timer.current = setTimeout(() => {
            if (!held.current) dismiss(toast.key);
        }, TOAST_MS);
    };
    useEffect(() => {
        arm();
        return () => clearTimeout(timer.current);
    }, []);
    const hold = () => {
        held.current = true;
    };
    const release = () => {
        held.current = false;
        arm();
    };
    return html`<div class=${`toast toast-${toast.level}`} role=${toast.level === "error" ? "alert" : undefined} data-testid="toast"
        onMouseEnter=${hold} onMouseLeave=${release} onFocusIn=${hold} onFocusOut=${release}>
        <span class="toast-icon" aria-hidden="true"></span>
        <div class="toast-text">
            <strong>${toast.title}</strong>
            ${toast.body && html`<span>${toast.body}</span>`}
            ${toast.href && html`<a href=${toast.href} onClick=${toast.onLink} download>${toast.linkLabel ?? "Open"}</a>`}
        </div>
        <button class="icon-button" type="button" aria-label="Dismiss" onClick=${() => dismiss(toast.key)}>×</button>
    </div>`;
}
