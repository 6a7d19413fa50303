-- 4: an index on the task's state, so that the operators' counts (Store.CountByState, every 2 s
-- per open /admin page) and the running tasks' list read the index, not the whole table.
CREATE INDEX IF NOT EXISTS herald_tasks_state ON herald_tasks (state);
