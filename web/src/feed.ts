// The user's feed as the page follows it. Every taskUpdated, notification and notificationsRead the
// hub pushes carries seq, 1, 2, 3, … per user. The page keeps the last seq up to which it holds every
// message; after a reconnect (or a gap in the numbers) it asks the hub method Missed for what came
// after and applies it, and only when the feed no longer reaches back that far (a restart of a
// single node, a long absence) does it read the task list and the inbox again.

/** One message of the feed, as Missed returns it. */
export interface FeedMessage {
    seq: number;
    target: string;
    arg: unknown;
}

/** The reply of the hub method Missed. */
export interface MissedReply {
    complete: boolean;
    last: number;
    messages: FeedMessage[];
}

export interface FeedHooks {
    /** Calls the hub method Missed. */
    missed(after: number): Promise<MissedReply>;
    /** Applies one message, live or caught up; applying one twice must do no harm. */
    apply(target: string, arg: unknown): void;
    /** Reads the task list and the inbox anew; toastMissed: notifications that came meanwhile are toasted. */
    refetch(toastMissed: boolean): Promise<void>;
}

/** A seq past any real one: Missed answers it with the feed's last seq and no message. */
const PAST_THE_END = Number.MAX_SAFE_INTEGER;

export class Feed {
    /** Every message up to this seq is applied (or covered by a refetch); -1: not known yet. */
    private last = -1;
    /** Seqs applied live beyond a gap, waiting for the gap to fill. */
    private ahead = new Set<number>();
    private running: Promise<void> | null = null;
    private again = false;
    /** Whether the next sync is the page's first (nothing to toast from before it opened). */
    private first = true;

    constructor(private readonly hooks: FeedHooks) {}

    /** A message as it arrived live: applied at once; a gap in the numbers is caught up. */
    live(target: string, arg: unknown): void {
        this.hooks.apply(target, arg);
        const seq = seqOf(arg);
        if (!seq || this.last < 0 || seq <= this.last) return; // unnumbered, not synced yet, or old
        if (seq === this.last + 1) {
            this.advance(seq);
            return;
        }
        this.ahead.add(seq);
        this.sync();
    }

    /** After every (re)connect, and on a gap: catches up, one run at a time. */
    sync(): void {
        if (this.running) {
            this.again = true;
            return;
        }
        this.running = this.run().finally(() => {
            this.running = null;
            if (this.again) {
                this.again = false;
                this.sync();
            }
        });
    }

    private async run(): Promise<void> {
        const first = this.first;
        this.first = false;
        if (this.last >= 0) {
            try {
                const m = await this.hooks.missed(this.last);
                if (m.complete) {
                    for (const msg of m.messages) this.hooks.apply(msg.target, msg.arg);
                    this.advance(m.last);
                    return;
                }
                // The feed no longer reaches back: start from its end, and read everything anew.
                this.reset(m.last);
                await this.hooks.refetch(true);
                return;
            } catch {
                // No answer (the connection went again, an older server): read everything anew.
            }
        }
        // The feed's last seq first, then the list: what comes after it arrives live or in a catch-up.
        let last = -1;
        try {
            last = (await this.hooks.missed(PAST_THE_END)).last;
        } catch {
            /* not known for now: the next reconnect reads the list again */
        }
        this.reset(last);
        await this.hooks.refetch(!first);
    }

    private advance(last: number): void {
        this.last = Math.max(this.last, last);
        for (const s of this.ahead) if (s <= this.last) this.ahead.delete(s);
        while (this.ahead.delete(this.last + 1)) this.last++;
    }

    private reset(last: number): void {
        this.last = last;
        this.ahead.clear();
    }
}

function seqOf(arg: unknown): number {
    const s = (arg as { seq?: unknown } | null)?.seq;
    return typeof s === "number" && s > 0 ? s : 0;
}
