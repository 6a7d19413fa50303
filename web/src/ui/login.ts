import { html } from "htm/preact";
import { useState } from "preact/hooks";
import { ApiError, devLogin, signIn, type Session, type WebConfig } from "../api";

interface Props {
    config: WebConfig | null;
    /** Why the page is signed out, when it did not ask to be (an expired token). */
    message?: string;
    /** The operators' page: dev login asks for the admin role. */
    admin?: boolean;
    onSignedIn(s: Session): void;
}

/** Sign in: the dev login (a user name) in dev mode; otherwise a configured login page or a token. */
export function Login({ config, message, admin, onSignedIn }: Props) {
    const [user, setUser] = useState("");
    const [token, setToken] = useState("");
    const [error, setError] = useState("");
    const [busy, setBusy] = useState(false);

    const run = async (f: () => Promise<Session> | Session) => {
        setBusy(true);
        setError("");
        try {
            onSignedIn(await f());
        } catch (e) {
            setError(e instanceof ApiError ? e.message : String(e));
        } finally {
            setBusy(false);
        }
    };
    const loginHref = config?.loginUrl
        ? `${config.loginUrl}${config.loginUrl.includes("?") ? "&" : "?"}return=${encodeURIComponent(location.href)}`
        : "";

    return html`
        <main id="main" class="login">
            <div class="card login-card">
                <h1><span class="logo" aria-hidden="true"></span> Herald</h1>
                <p class="muted">${admin ? "Operators: live counts, the live trace and announcements." : "Your exports and notifications, live on every open page."}</p>
                ${message && html`<p class="notice" role="status">${message}</p>`}
                ${error && html`<p class="error-text" role="alert">${error}</p>`}
                ${config === null && html`<p class="muted" aria-busy="true">Loading…</p>`}
                ${config?.devLogin &&
                html`<form
                    onSubmit=${(e: Event) => {
                        e.preventDefault();
                        void run(() => devLogin(user.trim(), admin ? ["admin"] : []));
                    }}
                >
                    <label for="dev-user">User name</label>
                    <input id="dev-user" name="user" autocomplete="username" required maxlength="128" value=${user}
                        onInput=${(e: Event) => setUser((e.target as HTMLInputElement).value)} />
                    <p class="hint">Dev mode: any name signs in${admin ? ", with the admin role" : ""}. Never run Herald this way in production.</p>
                    <button class="primary" type="submit" disabled=${busy || !user.trim()}>Sign in</button>
                </form>`}
                ${loginHref && html`<p><a class="button primary" href=${loginHref}>Sign in with your account</a></p>`}
                ${config &&
                !config.devLogin &&
                html`<details open=${!loginHref}>
                    <summary>Sign in with a token</summary>
                    <form
                        onSubmit=${(e: Event) => {
                            e.preventDefault();
                            void run(() => signIn(token));
                        }}
                    >
                        <label for="token">Access token (JWT)</label>
                        <textarea id="token" rows="4" spellcheck="false" autocomplete="off" value=${token}
                            onInput=${(e: Event) => setToken((e.target as HTMLTextAreaElement).value)}></textarea>
                        <p class="hint">Kept for this tab only, until you close it or sign out.</p>
                        <button class="primary" type="submit" disabled=${busy || !token.trim()}>Sign in</button>
                    </form>
                </details>`}
            </div>
        </main>
    `;
}
