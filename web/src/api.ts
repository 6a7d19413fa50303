// The REST API as the pages use it: the token kept for the tab's session, JSON in and out, and
// the server's JSON errors turned into ApiError (with the per-field details of a 422).

const TOKEN_KEY = "herald.token";

/** A field's complaint in a 422 (export parameters). */
export interface FieldError {
    param: string;
    message: string;
}

/** An error reply of the API: its HTTP status, stable code, sentence and details. */
export class ApiError extends Error {
    constructor(
        readonly status: number,
        readonly code: string,
        message: string,
        readonly details: FieldError[] = [],
        readonly retryAfter = 0,
    ) {
        super(message);
    }
}

export interface Session {
    token: string;
    user: string;
    roles: string[];
    /** Seconds since the epoch; 0 when the token has no exp. */
    exp: number;
}

/** The signed-in session of this tab, from sessionStorage; null when signed out or expired. */
export function session(): Session | null {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) return null;
    const s = decodeToken(token);
    if (!s || (s.exp && s.exp * 1000 < Date.now())) {
        sessionStorage.removeItem(TOKEN_KEY);
        return null;
    }
    return s;
}

/** Keeps token for this tab's session; it must be a JWT whose claims name a user. */
export function signIn(token: string): Session {
    const s = decodeToken(token.trim());
    if (!s) throw new ApiError(0, "invalid_token", "That is not a token: paste the whole JWT (three parts separated by dots).");
    if (s.exp && s.exp * 1000 < Date.now()) throw new ApiError(0, "token_expired", "That token has expired.");
    sessionStorage.setItem(TOKEN_KEY, s.token);
    return s;
}

export function signOut(): void {
    sessionStorage.removeItem(TOKEN_KEY);
}

/** Reads the claims of a JWT without checking it (the server does): the user and roles to show. */
function decodeToken(token: string): Session | null {
    const parts = token.split(".");
    if (parts.length !== 3) return null;
    try {
        const json = atob(parts[1].replace(/-/g, "+").replace(/_/g, "/"));
        const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
        const user = claims.sub ?? claims.name ?? claims.user ?? "";
        const raw = claims.roles ?? claims.role ?? [];
        const roles = Array.isArray(raw) ? raw.map(String) : [String(raw)];
        return { token, user: String(user), roles, exp: Number(claims.exp ?? 0) };
    } catch {
        return null;
    }
}

/** Called when the server says the token is no longer good (401): the page signs out. */
let onUnauthorized: (e: ApiError) => void = () => {};
export function whenUnauthorized(f: (e: ApiError) => void): void {
    onUnauthorized = f;
}

/** Calls the API: JSON body in, JSON reply out; an error reply throws ApiError. */
export async function api<T>(path: string, init: { method?: string; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    const s = session();
    if (s) headers.Authorization = `Bearer ${s.token}`;
    if (init.body !== undefined) headers["Content-Type"] = "application/json";
    let r: Response;
    try {
        r = await fetch(path, {
            method: init.method ?? (init.body !== undefined ? "POST" : "GET"),
            headers,
            body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
            signal: init.signal,
        });
    } catch (e) {
        if ((e as Error).name === "AbortError") throw e;
        throw new ApiError(0, "offline", "Herald cannot be reached. Check your connection; the page will catch up when it is back.");
    }
    const text = await r.text();
    let body: any = undefined;
    try {
        body = text ? JSON.parse(text) : undefined;
    } catch {
        /* not JSON: described below */
    }
    if (!r.ok) {
        const err = body?.error;
        const e = new ApiError(
            r.status,
            err?.code ?? "http_" + r.status,
            err?.message ?? `Herald answered ${r.status} ${r.statusText}.`,
            Array.isArray(err?.details) ? err.details : [],
            Number(r.headers.get("Retry-After") ?? 0),
        );
        if (r.status === 401 && s) onUnauthorized(e);
        throw e;
    }
    return body as T;
}

/** What the page needs to know before anyone signs in (GET /api/config). */
export interface WebConfig {
    devLogin: boolean;
    loginUrl?: string;
    downloadAuth: "link" | "owner";
}

export function webConfig(): Promise<WebConfig> {
    return api<WebConfig>("/api/config");
}

/** Signs in through the dev login (dev mode only). */
export async function devLogin(user: string, roles: string[] = []): Promise<Session> {
    const r = await api<{ token: string }>("/api/auth/dev-login", { body: roles.length ? { user, roles } : { user } });
    return signIn(r.token);
}

/**
 * Takes a token handed back by a login page in the URL's fragment (#access_token=…), then removes
 * it from the address bar and the history.
 */
export function tokenFromFragment(): Session | null {
    const m = /[#&]access_token=([^&]+)/.exec(location.hash);
    if (!m) return null;
    history.replaceState(null, "", location.pathname + location.search);
    try {
        return signIn(decodeURIComponent(m[1]));
    } catch {
        return null;
    }
}
