import { html } from "htm/preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, ApiError } from "../api";
import type { Dataset, DatasetParam, Task } from "../types";

const COMPRESSIONS = ["none", "gzip", "zstd"];
/** Formats that hold their own compression: they take none. */
const SELF_COMPRESSED = new Set(["parquet", "xlsx"]);

type Values = Record<string, string | boolean>;

/** The starting value of a parameter's field: its default, as the field holds it. */
function initial(p: DatasetParam): string | boolean {
    if (p.type === "bool") return p.default === true;
    if (p.default === undefined || p.default === null) return "";
    if (p.type === "timestamp") return String(p.default).slice(0, 16);
    return String(p.default);
}

/**
 * The value sent for a field, as the parameter's JSON type; undefined leaves it out (the server
 * then uses the default, or says it is required). Text the browser cannot read as a number is
 * sent as it is, so that the server's message explains what is wrong.
 */
function toJSON(p: DatasetParam, v: string | boolean): unknown {
    if (p.type === "bool") return v;
    const s = String(v).trim();
    if (s === "") return undefined;
    if (p.type === "int" || p.type === "float") {
        const n = Number(s);
        return Number.isFinite(n) ? n : s;
    }
    if (p.type === "timestamp") {
        const d = new Date(s);
        return Number.isNaN(d.getTime()) ? s : d.toISOString().replace(".000Z", "Z");
    }
    return s;
}

interface Props {
    onStarted(t: Task): void;
}

/**
 * A new export: the form is built from GET /api/datasets (each parameter's type, bounds, allowed
 * values and default). The browser does not validate (novalidate): the server does, and its
 * messages show beside the fields they concern.
 */
export function ExportForm({ onStarted }: Props) {
    const [datasets, setDatasets] = useState<Dataset[] | null>(null);
    const [loadError, setLoadError] = useState("");
    const [name, setName] = useState("");
    const [format, setFormat] = useState("");
    const [compression, setCompression] = useState("none");
    const [delimiter, setDelimiter] = useState("");
    const [values, setValues] = useState<Values>({});
    const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
    const [formError, setFormError] = useState("");
    const [busy, setBusy] = useState(false);
    const [started, setStarted] = useState("");
    // The dataset's filters are open on wide screens, folded on phones (one tap away).
    const [filtersOpen, setFiltersOpen] = useState(() => matchMedia("(min-width: 601px)").matches);

    useEffect(() => {
        api<{ datasets: Dataset[] }>("/api/datasets").then(
            (r) => {
                setDatasets(r.datasets);
                if (r.datasets.length) choose(r.datasets[0]);
            },
            (e) => setLoadError(e instanceof ApiError ? e.message : String(e)),
        );
    }, []);

    const dataset = useMemo(() => datasets?.find((d) => d.name === name), [datasets, name]);

    function choose(d: Dataset) {
        setName(d.name);
        setFormat(d.formats[0] ?? "csv");
        setCompression("none");
        setValues(Object.fromEntries(d.params.map((p) => [p.name, initial(p)])));
        setFieldErrors({});
        setFormError("");
    }

    async function submit(e: Event) {
        e.preventDefault();
        if (!dataset) return;
        setBusy(true);
        setFieldErrors({});
        setFormError("");
        setStarted("");
        const params: Record<string, unknown> = {};
        for (const p of dataset.params) {
            const v = toJSON(p, values[p.name] ?? "");
            if (v !== undefined) params[p.name] = v;
        }
        const body: Record<string, unknown> = { dataset: dataset.name, format, compression, params };
        if (format === "csv" && delimiter !== "") body.delimiter = delimiter;
        try {
            const t = await api<Task>("/api/exports", { body });
            setStarted(`Export started: ${t.title}`);
            onStarted(t);
        } catch (err) {
            if (!(err instanceof ApiError)) throw err;
            const byField: Record<string, string> = {};
            const rest: string[] = [];
            for (const d of err.details) {
                const known = d.param === "format" || d.param === "compression" || d.param === "delimiter" || dataset.params.some((p) => p.name === d.param);
                if (known) byField[d.param] = sentence(d.message);
                else rest.push(`${d.param}: ${d.message}`);
            }
            // The delimiter's refusal comes without details: it belongs beside its field.
            if (!err.details.length && /delimiter/i.test(err.message) && format === "csv") byField.delimiter = err.message;
            setFieldErrors(byField);
            if (dataset.params.some((p) => byField[p.name])) setFiltersOpen(true);
            const retry = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : "";
            // The fields say what is wrong with them; the form only points there.
            const main = Object.keys(byField).length ? "Check the fields marked above." : err.message + retry;
            setFormError([main, ...rest].join(" "));
        } finally {
            setBusy(false);
        }
    }

    if (loadError) return html`<p class="error-text" role="alert">${loadError}</p>`;
    if (!datasets) return html`<p class="muted" aria-busy="true">Loading datasets…</p>`;
    if (!datasets.length) return html`<p class="muted">No dataset is open to you.</p>`;

    const set = (k: string, v: string | boolean) => setValues({ ...values, [k]: v });
    return html`<form class="export-form" novalidate onSubmit=${submit} data-testid="export-form">
        <div class="fields">
            <${Field} id="f-dataset" label="Dataset" hint=${dataset?.description}>
                <select id="f-dataset" value=${name} onChange=${(e: Event) => choose(datasets.find((d) => d.name === (e.target as HTMLSelectElement).value)!)}>
                    ${datasets.map((d) => html`<option value=${d.name}>${d.title}</option>`)}
                </select>
            <//>
            <${Field} id="f-format" label="Format" error=${fieldErrors.format}>
                <select id="f-format" value=${format} aria-invalid=${!!fieldErrors.format} aria-describedby=${fieldErrors.format ? "f-format-error" : undefined}
                    onChange=${(e: Event) => {
                        const f = (e.target as HTMLSelectElement).value;
                        setFormat(f);
                        if (SELF_COMPRESSED.has(f)) setCompression("none");
                    }}>
                    ${dataset?.formats.map((f) => html`<option value=${f}>${formatName(f)}</option>`)}
                </select>
            <//>
            <${Field} id="f-compression" label="Compression" error=${fieldErrors.compression}>
                <select id="f-compression" value=${compression} disabled=${SELF_COMPRESSED.has(format)}
                    aria-invalid=${!!fieldErrors.compression} aria-describedby=${fieldErrors.compression ? "f-compression-error" : undefined}
                    onChange=${(e: Event) => setCompression((e.target as HTMLSelectElement).value)}>
                    ${COMPRESSIONS.map((c) => html`<option value=${c}>${c === "none" ? "None" : c}</option>`)}
                </select>
            <//>
            ${format === "csv" &&
            html`<${Field} id="f-delimiter" label="Delimiter" hint="One character; a comma when empty." error=${fieldErrors.delimiter}>
                <input id="f-delimiter" class="narrow" maxlength="1" value=${delimiter}
                    aria-invalid=${!!fieldErrors.delimiter} aria-describedby=${fieldErrors.delimiter ? "f-delimiter-error" : "f-delimiter-hint"}
                    onInput=${(e: Event) => setDelimiter((e.target as HTMLInputElement).value)} />
            <//>`}
        </div>
        ${!!dataset?.params.length &&
        html`<details class="filters" open=${filtersOpen} onToggle=${(e: Event) => setFiltersOpen((e.target as HTMLDetailsElement).open)}>
            <summary>Filters</summary>
            <div class="fields">
                ${dataset.params.map((p) => html`<${ParamField} key=${dataset.name + p.name} param=${p} value=${values[p.name] ?? ""} error=${fieldErrors[p.name]}
                    floor=${p.after ? values[p.after] : undefined}
                    onChange=${(v: string | boolean) => set(p.name, v)} />`)}
            </div>
        </details>`}
        ${formError && html`<p class="error-text" role="alert" data-testid="form-error">${formError}</p>`}
        <div class="actions">
            <button class="primary" type="submit" disabled=${busy}>${busy ? "Starting…" : "Start export"}</button>
            <span class="muted" role="status">${started}</span>
        </div>
    </form>`;
}

/** How people write the formats' names. */
export function formatName(f: string): string {
    return ({ csv: "CSV", jsonl: "JSON Lines", parquet: "Parquet", xlsx: "Excel (XLSX)" } as Record<string, string>)[f] ?? f.toUpperCase();
}

function sentence(s: string): string {
    const t = s.charAt(0).toUpperCase() + s.slice(1);
    return /[.!?]$/.test(t) ? t : t + ".";
}

function Field({ id, label, hint, error, required, children }: { id: string; label: string; hint?: string; error?: string; required?: boolean; children: unknown }) {
    return html`<div class=${`field ${error ? "has-error" : ""}`} data-field=${id}>
        <label for=${id}>${label}${required && html`<span class="req" aria-hidden="true"> *</span>`}</label>
        ${children}
        ${hint && !error && html`<p class="hint" id=${id + "-hint"}>${hint}</p>`}
        ${error && html`<p class="field-error" id=${id + "-error"} data-testid="field-error">${error}</p>`}
    </div>`;
}

/** floor: the value of the parameter this one must come after, which the date pickers start from. */
function ParamField({ param: p, value, error, floor, onChange }: { param: DatasetParam; value: string | boolean; error?: string; floor?: string | boolean; onChange(v: string | boolean): void }) {
    const id = `p-${p.name}`;
    const label = p.title || p.name;
    const bounds =
        p.min !== undefined && p.max !== undefined ? `From ${p.min} to ${p.max}` : p.min !== undefined ? `At least ${p.min}` : p.max !== undefined ? `At most ${p.max}` : "";
    const hint = [p.description, bounds].filter(Boolean).join(" · ");
    const common = {
        id,
        name: p.name,
        required: p.required,
        "aria-invalid": !!error,
        "aria-describedby": error ? id + "-error" : hint ? id + "-hint" : undefined,
    };
    const text = (e: Event) => onChange((e.target as HTMLInputElement).value);
    let input;
    switch (p.type) {
        case "bool":
            return html`<div class=${`field check ${error ? "has-error" : ""}`}>
                <label><input type="checkbox" ...${common} checked=${value === true} onChange=${(e: Event) => onChange((e.target as HTMLInputElement).checked)} /> ${label}</label>
                ${hint && !error && html`<p class="hint" id=${id + "-hint"}>${hint}</p>`}
                ${error && html`<p class="field-error" id=${id + "-error"} data-testid="field-error">${error}</p>`}
            </div>`;
        case "enum":
            input = html`<select ...${common} value=${value} onChange=${text}>
                ${!p.required && html`<option value="">${p.default !== undefined && p.default !== null ? `Default (${p.default})` : "Any"}</option>`}
                ${(p.values ?? []).map((v) => html`<option value=${v}>${v}</option>`)}
            </select>`;
            break;
        case "int":
        case "float":
            input = html`<input type="number" inputmode=${p.type === "int" ? "numeric" : "decimal"} step=${p.type === "int" ? 1 : "any"}
                min=${p.min} max=${p.max} ...${common} value=${value} onInput=${text} />`;
            break;
        case "date":
            input = html`<input type="date" min=${floor || undefined} ...${common} value=${value} onInput=${text} />`;
            break;
        case "timestamp":
            input = html`<input type="datetime-local" min=${floor || undefined} ...${common} value=${value} onInput=${text} />`;
            break;
        default:
            input = html`<input type="text" ...${common} value=${value} onInput=${text} />`;
    }
    return html`<${Field} id=${id} label=${label} hint=${hint} error=${error} required=${p.required}>${input}<//>`;
}
