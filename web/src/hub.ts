// The page's one connection to the notifications hub, with the official client: automatic
// reconnect that never gives up (a laptop that slept for an hour comes back), stateful reconnect
// (a blip loses nothing), and a status the header shows.
import * as signalR from "@microsoft/signalr";
import { session } from "./api";

export type LinkStatus = "connecting" | "connected" | "reconnecting" | "offline";

export interface HubEvents {
    /** The status changed. */
    status(s: LinkStatus): void;
    /** Connected again after a drop or a start: what the page shows must be fetched anew. */
    resync(): void;
}

/** Retry delays after a drop: at once, then backing off to 10 s, and on every 10 s forever. */
const DELAYS = [0, 1000, 2000, 5000];
const MAX_DELAY = 10000;

export class Link {
    readonly conn: signalR.HubConnection;
    private stopped = false;
    private retry?: ReturnType<typeof setTimeout>;

    constructor(private readonly events: HubEvents) {
        this.conn = new signalR.HubConnectionBuilder()
            .withUrl("/hubs/notifications", { accessTokenFactory: () => session()?.token ?? "" })
            .withAutomaticReconnect({ nextRetryDelayInMilliseconds: (c) => DELAYS[c.previousRetryCount] ?? MAX_DELAY })
            .withStatefulReconnect()
            .configureLogging(signalR.LogLevel.Warning)
            .build();
        this.conn.onreconnecting(() => events.status("reconnecting"));
        this.conn.onreconnected(() => {
            events.status("connected");
            events.resync();
        });
        // Closed for good (the server refused a reconnect, a restart outlasted the retries, the
        // token expired): start again, with backoff, as long as the page is open.
        this.conn.onclose(() => {
            if (this.stopped) return;
            events.status(navigator.onLine ? "reconnecting" : "offline");
            this.schedule(1000);
        });
        window.addEventListener("online", this.onOnline);
        window.addEventListener("offline", this.onOffline);
    }

    /** Registers a handler of a server-to-client method. */
    on<T extends unknown[]>(target: string, f: (...args: T) => void): void {
        this.conn.on(target, f as (...args: unknown[]) => void);
    }

    start(): void {
        this.events.status("connecting");
        void this.connect(1000);
    }

    async stop(): Promise<void> {
        this.stopped = true;
        clearTimeout(this.retry);
        window.removeEventListener("online", this.onOnline);
        window.removeEventListener("offline", this.onOffline);
        await this.conn.stop();
    }

    private async connect(backoff: number): Promise<void> {
        if (this.stopped || this.conn.state !== signalR.HubConnectionState.Disconnected) return;
        try {
            await this.conn.start();
            this.events.status("connected");
            this.events.resync();
        } catch {
            if (this.stopped) return;
            this.events.status(navigator.onLine ? "reconnecting" : "offline");
            this.schedule(Math.min(backoff * 2, MAX_DELAY));
        }
    }

    private schedule(ms: number): void {
        clearTimeout(this.retry);
        this.retry = setTimeout(() => void this.connect(ms), ms);
    }

    private onOnline = () => {
        if (this.conn.state === signalR.HubConnectionState.Disconnected) this.schedule(0);
    };

    private onOffline = () => {
        if (this.conn.state !== signalR.HubConnectionState.Connected) this.events.status("offline");
    };
}
