// What GET /api/admin/stats and the trace stream return.

export interface NodeStats {
    id: string;
    connections: Record<string, number>;
    started?: string;
}

export interface RunningExport {
    id: string;
    user: string;
    dataset: string;
    format: string;
    rows: number;
    bytes: number;
    rowsPerSecond: number;
    bytesPerSecond: number;
    startedAt?: string;
}

export interface Stats {
    time: string;
    nodes: NodeStats[];
    hubs: Record<string, { connections: number; users: number }>;
    usersOnline: number;
    tasks: Record<string, number>;
    exports: RunningExport[];
    sends: { total: number; perSecond: number };
}

export interface TraceEvent {
    time: string;
    node?: string;
    hub?: string;
    type: string;
    connection?: string;
    user?: string;
    transport?: string;
    protocol?: string;
    reason?: string;
    target?: string;
    scope?: string;
    to?: string;
    size?: number;
    payload?: unknown;
    count?: number;
}
