// The shapes of the API's replies and of the hub's messages (api/openapi.json has them all).

export type TaskState = "queued" | "running" | "succeeded" | "failed" | "cancelled";
export const TASK_STATES: TaskState[] = ["queued", "running", "succeeded", "failed", "cancelled"];

export interface Progress {
    done: number;
    total: number;
    percent: number;
    message?: string;
    bytes?: number;
    eta?: string;
}

export interface ExportResult {
    dataset: string;
    format: string;
    compression: string;
    rows: number;
    bytes: number;
    fileName: string;
    downloadUrl?: string;
    expiresAt: string;
    expired?: boolean;
}

/** The kind of Herald's export tasks. */
export const EXPORT_KIND = "herald_export";

export interface Task {
    id: string;
    owner: string;
    kind: string;
    title: string;
    state: TaskState;
    progress: Progress;
    result?: ExportResult | Record<string, unknown>;
    error?: string;
    attempt: number;
    createdAt: string;
    startedAt?: string;
    finishedAt?: string;
    updatedAt: string;
    /** The per-user sequence of the hub message that carried it. */
    seq?: number;
}

export interface TaskPage {
    tasks: Task[];
    next?: string;
}

export interface Notification {
    id: string;
    owner: string;
    level: "info" | "success" | "error";
    title: string;
    body?: string;
    link?: string;
    taskId?: string;
    createdAt: string;
    readAt?: string;
    seq?: number;
}

export interface NotificationList {
    notifications: Notification[];
    unread: number;
}

export interface ReadChange {
    ids?: string[];
    all?: boolean;
    unread: number;
}

export interface DatasetParam {
    name: string;
    type: "string" | "int" | "float" | "bool" | "date" | "timestamp" | "enum";
    title?: string;
    description?: string;
    required: boolean;
    default?: unknown;
    values?: string[];
    min?: number;
    max?: number;
    /** Another parameter this one must be greater than when both are given (a range's end). */
    after?: string;
}

export interface Dataset {
    name: string;
    title: string;
    description?: string;
    formats: string[];
    params: DatasetParam[];
}

export function isExportResult(r: unknown): r is ExportResult {
    return !!r && typeof r === "object" && "fileName" in r;
}

export function isActive(s: TaskState): boolean {
    return s === "queued" || s === "running";
}
