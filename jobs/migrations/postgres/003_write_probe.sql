-- 3: the row that readiness writes (Store.ProbeWrite), to learn that the database takes writes,
-- not only reads.
CREATE TABLE IF NOT EXISTS herald_probe (
    id        smallint PRIMARY KEY,
    probed_at bigint NOT NULL
);
INSERT INTO herald_probe (id, probed_at) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
