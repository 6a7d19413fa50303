// Numbers, sizes, times and durations as people read them.

const nf = new Intl.NumberFormat();

export function count(n: number): string {
    return nf.format(n);
}

/** A size as the server writes it in notifications: "512 B", "11.2 MiB". */
export function bytes(n: number | undefined): string {
    if (n === undefined || n === null) return "";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let v = n;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
        v /= 1024;
        i++;
    }
    return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** "3 s", "4 min 05 s", "1 h 02 min". */
export function duration(ms: number): string {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
    return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** "2 minutes ago", "in 3 days". */
export function relative(iso: string | undefined, now = Date.now()): string {
    if (!iso) return "";
    const d = (Date.parse(iso) - now) / 1000;
    const a = Math.abs(d);
    if (a < 45) return rtf.format(Math.round(d), "second");
    if (a < 2700) return rtf.format(Math.round(d / 60), "minute");
    if (a < 79200) return rtf.format(Math.round(d / 3600), "hour");
    return rtf.format(Math.round(d / 86400), "day");
}

const dtf = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function dateTime(iso: string | undefined): string {
    return iso ? dtf.format(new Date(iso)) : "";
}
