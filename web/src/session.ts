// The sign-in state both pages share: the tab's session, the server's sign-in config, and why the
// page was signed out (a 401, the token's end).
import { useEffect, useState } from "preact/hooks";
import { session, signOut, tokenFromFragment, webConfig, whenUnauthorized, type Session, type WebConfig } from "./api";

export interface SessionState {
    session: Session | null;
    config: WebConfig | null;
    /** Why the page is signed out, when it did not ask to be. */
    message: string;
    signedIn(s: Session): void;
    signOut(): void;
}

export function useSession(): SessionState {
    const [sess, setSess] = useState<Session | null>(() => tokenFromFragment() ?? session());
    const [config, setConfig] = useState<WebConfig | null>(null);
    const [message, setMessage] = useState("");
    const end = (why: string) => {
        signOut();
        setSess(null);
        setMessage(why);
    };
    useEffect(() => {
        webConfig().then(setConfig, (e) => setMessage(e.message));
        whenUnauthorized((e) => end(`You were signed out: ${e.message}`));
    }, []);
    // A token's end signs the page out, saying why.
    useEffect(() => {
        if (!sess?.exp) return;
        const t = setTimeout(() => end("Your session ended. Sign in again."), Math.max(0, sess.exp * 1000 - Date.now()));
        return () => clearTimeout(t);
    }, [sess]);
    return {
        session: sess,
        config,
        message,
        signedIn: (s) => {
            setMessage("");
            setSess(s);
        },
        signOut: () => end(""),
    };
}
