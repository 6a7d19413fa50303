import { html } from "htm/preact";

export interface Series {
    name: string;
    className: string;
    points: number[];
}

/**
 * A small line chart of the last minutes, in SVG (no inline style: the page's CSP allows none).
 * Every series shares the x axis (one point per sample) and has its own scale, printed in the
 * legend with its latest value.
 */
export function Chart({ series, label, seconds }: { series: Series[]; label: string; seconds: number }) {
    const W = 600;
    const H = 140;
    const pad = 6;
    const n = Math.max(2, ...series.map((s) => s.points.length));
    return html`<figure class="chart">
        <svg viewBox=${`0 0 ${W} ${H}`} role="img" aria-label=${label} preserveAspectRatio="none">
            <line x1="0" y1=${H - pad} x2=${W} y2=${H - pad} class="axis" />
            <line x1="0" y1=${pad} x2=${W} y2=${pad} class="grid" vector-effect="non-scaling-stroke" />
            <line x1="0" y1=${H / 2} x2=${W} y2=${H / 2} class="grid" vector-effect="non-scaling-stroke" />
            ${series.map((s) => {
                const max = Math.max(1, ...s.points);
                const off = n - s.points.length;
                const pts = s.points.map((v, i) => `${(((i + off) / (n - 1)) * W).toFixed(1)},${(H - pad - (v / max) * (H - 2 * pad)).toFixed(1)}`).join(" ");
                return html`<polyline class=${`line ${s.className}`} points=${pts} fill="none" vector-effect="non-scaling-stroke" />`;
            })}
        </svg>
        <div class="chart-x muted" aria-hidden="true"><span>${Math.round(seconds / 60)} min ago</span><span>each line's peak at the top, half of it in the middle</span><span>now</span></div>
        <figcaption>
            ${series.map(
                (s) => html`<span class="legend"><span class=${`swatch ${s.className}`} aria-hidden="true"></span>${s.name}:
                    <strong>${fmt(s.points[s.points.length - 1] ?? 0)}</strong> <span class="muted">(peak ${fmt(Math.max(0, ...s.points))})</span></span>`,
            )}
        </figcaption>
    </figure>`;
}

function fmt(v: number): string {
    return v >= 100 || Number.isInteger(v) ? Math.round(v).toLocaleString() : v.toFixed(1);
}
