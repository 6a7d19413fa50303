-- 1: tasks (herald_tasks) and the notification inbox (herald_notifications).
CREATE TABLE IF NOT EXISTS herald_tasks (
    id               text PRIMARY KEY,
    owner            text NOT NULL,
    kind             text NOT NULL,
    title            text NOT NULL,
    state            text NOT NULL,
    progress_done    bigint NOT NULL DEFAULT 0,
    progress_total   bigint NOT NULL DEFAULT 0,
    progress_message text NOT NULL DEFAULT '',
    result           text,
    error            text NOT NULL DEFAULT '',
    attempt          integer NOT NULL DEFAULT 0,
    job_id           bigint,
    created_at       bigint NOT NULL,
    started_at       bigint,
    finished_at      bigint,
    updated_at       bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS herald_tasks_owner_created ON herald_tasks (owner, created_at DESC, id DESC);
CREATE TABLE IF NOT EXISTS herald_notifications (
    id         text PRIMARY KEY,
    owner      text NOT NULL,
    level      text NOT NULL,
    title      text NOT NULL,
    body       text NOT NULL DEFAULT '',
    link       text NOT NULL DEFAULT '',
    task_id    text,
    created_at bigint NOT NULL,
    read_at    bigint
);
CREATE INDEX IF NOT EXISTS herald_notifications_owner_created ON herald_notifications (owner, created_at DESC, id DESC);
