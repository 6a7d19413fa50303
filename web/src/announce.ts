// An announcement (herald send --all --target announcement, or the operators' page) as a toast.
// Its arguments are free: a message and an optional level (what the operators' page sends:
// announcement(message, level)), or an object with a message (or title/body) and a level.
import type { Toast } from "./ui/toasts";

let n = 0;

/** The toast of an announcement; null when it says nothing. */
export function announcementToast(args: unknown[]): Toast | null {
    const a = args[0];
    let title = "Announcement";
    let body = "";
    let level: Toast["level"] = "info";
    if (typeof a === "string") {
        body = a;
        if (args[1] === "warning" || args[1] === "error" || args[1] === "success") level = args[1];
    }
    else if (a && typeof a === "object") {
        const o = a as Record<string, unknown>;
        body = String(o.message ?? o.body ?? o.text ?? "");
        if (typeof o.title === "string" && o.title) title = o.title;
        if (o.level === "warning" || o.level === "error" || o.level === "success") level = o.level;
    } else if (a !== undefined) body = String(a);
    if (!body.trim()) return null;
    return { key: `announcement-${++n}`, level, title, body };
}
