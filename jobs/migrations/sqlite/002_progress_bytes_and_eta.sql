-- 2: bytes written and estimated end, for exports.
ALTER TABLE herald_tasks ADD COLUMN progress_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE herald_tasks ADD COLUMN progress_eta INTEGER;
