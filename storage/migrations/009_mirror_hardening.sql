-- Blind mirror hardening (issue 10).
-- A round belongs to the bot that opened it: several bots may share this database, and only the
-- bot in the rooms may close, release or redact. Rows from before this migration have bot = ''
-- until a bot that is in their reflecting room claims them at start.
-- The opener is kept for the per-opener quota (their command was seen in the room anyway);
-- eligible is how many members could take part, counted at close (shown, never per person).
ALTER TABLE mirror_round ADD COLUMN bot TEXT NOT NULL DEFAULT '';
ALTER TABLE mirror_round ADD COLUMN opener TEXT NOT NULL DEFAULT '';
ALTER TABLE mirror_round ADD COLUMN eligible INTEGER;
CREATE INDEX mirror_round_bot ON mirror_round (bot, state);
-- One sealed box per round replaces a row per reflection: the members who may take part (keyed
-- hashes, taken when the round opened) and every reflection (keyed hash of the author, text
-- padded to the maximum length), sorted by hash and sealed whole under the round key. Each
-- submission rewrites the box with a fresh nonce, so no row, rowid, cell position or length
-- says which reflection came in when. (mirror_submission stays only until start-up has moved
-- the reflections of rounds open during the upgrade into their box; then it is always empty.)
CREATE TABLE mirror_box (
    round_id INTEGER PRIMARY KEY REFERENCES mirror_round (id) ON DELETE CASCADE,
    nonce BLOB NOT NULL,
    sealed BLOB NOT NULL
);
-- A request to reflect upon a room, waiting for a moderator there to accept or decline it.
-- Kept at most a day (protocols.mirror.REQUEST_TTL), then swept.
CREATE TABLE mirror_request (
    id INTEGER PRIMARY KEY,
    bot TEXT NOT NULL,
    code TEXT NOT NULL UNIQUE,
    reflecting_room TEXT NOT NULL,
    reflected_room TEXT NOT NULL,
    opener TEXT NOT NULL,
    k INTEGER NOT NULL CHECK (k >= 3),
    close_after REAL NOT NULL CHECK (close_after > 0),
    expires_at REAL NOT NULL
);
CREATE INDEX mirror_request_bot ON mirror_request (bot, expires_at);
