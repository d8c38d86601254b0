-- How many messages a release was cut into, written in the same transaction that queues them
-- in the outbox: a release cut short by a crash waits for exactly those (never a second
-- shuffle). A count only; it goes with its round (the code too: a restored backup may give a
-- new round an old id).
CREATE TABLE mirror_release (
    round_id INTEGER PRIMARY KEY REFERENCES mirror_round (id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    parts INTEGER NOT NULL CHECK (parts > 0)
);
