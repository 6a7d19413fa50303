-- 1: tasks (herald_tasks) and the notification inbox (herald_notifications).
CREATE TABLE IF NOT EXISTS herald_tasks (
    id               TEXT PRIMARY KEY,
    owner            TEXT NOT NULL,
    kind             TEXT NOT NULL,
    title            TEXT NOT NULL,
    state            TEXT NOT NULL,
    progress_done    INTEGER NOT NULL DEFAULT 0,
    progress_total   INTEGER NOT NULL DEFAULT 0,
    progress_message TEXT NOT NULL DEFAULT '',
    result           TEXT,
    error            TEXT NOT NULL DEFAULT '',
    attempt          INTEGER NOT NULL DEFAULT 0,
    job_id           INTEGER,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS herald_tasks_owner_created ON herald_tasks (owner, created_at DESC, id DESC);
CREATE TABLE IF NOT EXISTS herald_notifications (
    id         TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    level      TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL DEFAULT '',
    link       TEXT NOT NULL DEFAULT '',
    task_id    TEXT,
    created_at INTEGER NOT NULL,
    read_at    INTEGER
);
CREATE INDEX IF NOT EXISTS herald_notifications_owner_created ON herald_notifications (owner, created_at DESC, id DESC);
