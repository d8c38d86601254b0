-- Blind mirror: rounds, their keys, encrypted reflections, and the published events to redact.
-- Nothing here names who wrote a reflection, nor when: a submission row holds only an HMAC of
-- the author under the round key, and its sealed text. The key lives in its own row and is
-- overwritten and deleted when the round is released, withheld or forgotten, which makes every
-- leftover ciphertext and hash unreadable. Who opened a round is not stored (not needed).
CREATE TABLE mirror_round (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    reflecting_room TEXT NOT NULL,
    reflected_room TEXT NOT NULL,
    k INTEGER NOT NULL CHECK (k >= 3),
    closes_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'open'
        CHECK (state IN ('open', 'closed', 'released', 'withheld', 'expired')),
    release_at REAL,
    redact_at REAL
);
CREATE INDEX mirror_round_room ON mirror_round (reflecting_room, state);
CREATE INDEX mirror_round_state ON mirror_round (state, closes_at);
-- The round key, wrapped under the operator's master key when one is configured (wrapped = 1).
CREATE TABLE mirror_round_key (
    round_id INTEGER PRIMARY KEY REFERENCES mirror_round (id) ON DELETE CASCADE,
    wrapped INTEGER NOT NULL CHECK (wrapped IN (0, 1)),
    key BLOB NOT NULL
);
-- WITHOUT ROWID, keyed by (round, author hash): rows are ordered by the hash, and no rowid
-- counts up with each submission. No time column, on purpose: time would order them.
CREATE TABLE mirror_submission (
    round_id INTEGER NOT NULL REFERENCES mirror_round (id) ON DELETE CASCADE,
    author_hash BLOB NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    PRIMARY KEY (round_id, author_hash)
) WITHOUT ROWID;
-- Published release messages, kept only until they are redacted.
CREATE TABLE mirror_message (
    round_id INTEGER NOT NULL REFERENCES mirror_round (id) ON DELETE CASCADE,
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (round_id, event_id)
);
