-- Role lottery hardening.
-- 1. A draw's seed is sealed at rest (storage/lottery.py, seal_seed): the seed column then holds
--    the nonce and AES-256-GCM ciphertext under a key derived from the operator's pickle key, so
--    a copy of the database taken during a draw's window cannot be used to aim a contribution.
--    Rows written before this step hold their seed in the clear (seed_sealed = 0); the feature
--    seals those of open draws at start, and revealed draws have published their seed anyway.
ALTER TABLE lottery_draw ADD COLUMN seed_sealed INTEGER NOT NULL DEFAULT 0
    CHECK (seed_sealed IN (0, 1));
-- 2. Lottery and ghost chair rows belong to a bot (its user id): several bots in one process share
--    this database, and each reveals, reminds, expires and rebuilds only what is its own, in the
--    rooms it is in. Existing rows go to the bot that sent the draw's commitment, else the bot
--    that is in their room, else the only bot there ever was; rows no bot can be found for get ''
--    (no bot is in their room: never acted on, forgotten by age like any other).
--    SQLite cannot change a primary key in place: those tables are renamed, copied, dropped.
ALTER TABLE lottery_draw ADD COLUMN bot TEXT NOT NULL DEFAULT '';
UPDATE lottery_draw SET bot = COALESCE(
    (SELECT o.bot FROM outbox o WHERE o.txn_id = 'lottery-commit-' || lottery_draw.draw_id
     ORDER BY o.id LIMIT 1),
    (SELECT MIN(j.bot) FROM room_joined j WHERE j.room_id = lottery_draw.room_id),
    (SELECT CASE WHEN COUNT(DISTINCT j.bot) = 1 THEN MIN(j.bot) END FROM room_joined j),
    '');
CREATE INDEX lottery_draw_bot ON lottery_draw (bot, state, reveal_at);
DROP INDEX IF EXISTS lottery_draw_commit_event;
CREATE UNIQUE INDEX lottery_draw_commit_event ON lottery_draw (bot, commit_event_id);
ALTER TABLE lottery_history ADD COLUMN bot TEXT NOT NULL DEFAULT '';
UPDATE lottery_history SET bot = COALESCE(
    (SELECT d.bot FROM lottery_draw d WHERE d.draw_id = lottery_history.draw_id),
    (SELECT MIN(j.bot) FROM room_joined j WHERE j.room_id = lottery_history.room_id),
    (SELECT CASE WHEN COUNT(DISTINCT j.bot) = 1 THEN MIN(j.bot) END FROM room_joined j),
    '');
DROP INDEX IF EXISTS lottery_history_room;
CREATE INDEX lottery_history_room ON lottery_history (bot, room_id, role, at);
ALTER TABLE lottery_grouping ADD COLUMN bot TEXT NOT NULL DEFAULT '';
UPDATE lottery_grouping SET bot = COALESCE(
    (SELECT MIN(j.bot) FROM room_joined j WHERE j.room_id = lottery_grouping.room_id),
    (SELECT CASE WHEN COUNT(DISTINCT j.bot) = 1 THEN MIN(j.bot) END FROM room_joined j),
    '');
DROP INDEX IF EXISTS lottery_grouping_room;
CREATE INDEX lottery_grouping_room ON lottery_grouping (bot, room_id, kind, at);
ALTER TABLE lottery_cell_room ADD COLUMN bot TEXT NOT NULL DEFAULT '';
UPDATE lottery_cell_room SET bot = COALESCE(
    (SELECT MIN(j.bot) FROM room_joined j WHERE j.room_id = lottery_cell_room.room_id),
    (SELECT MIN(j.bot) FROM room_joined j WHERE j.room_id = lottery_cell_room.parent_room_id),
    (SELECT CASE WHEN COUNT(DISTINCT j.bot) = 1 THEN MIN(j.bot) END FROM room_joined j),
    '');
CREATE INDEX lottery_cell_room_bot ON lottery_cell_room (bot, parent_room_id, created_at);
ALTER TABLE ghost_gathering ADD COLUMN bot TEXT NOT NULL DEFAULT '';
UPDATE ghost_gathering SET bot = COALESCE(
    (SELECT MIN(j.bot) FROM room_joined j WHERE j.room_id = ghost_gathering.room_id),
    (SELECT CASE WHEN COUNT(DISTINCT j.bot) = 1 THEN MIN(j.bot) END FROM room_joined j),
    '');
DROP INDEX IF EXISTS ghost_gathering_room;
CREATE INDEX ghost_gathering_room ON ghost_gathering (bot, room_id, id);

ALTER TABLE lottery_renewal RENAME TO lottery_renewal_v10;
ALTER TABLE lottery_mandate RENAME TO lottery_mandate_v10;
ALTER TABLE lottery_room RENAME TO lottery_room_v10;
ALTER TABLE lottery_stepback RENAME TO lottery_stepback_v10;
ALTER TABLE lottery_room_option RENAME TO lottery_room_option_v10;
ALTER TABLE ghost_voice RENAME TO ghost_voice_v10;
ALTER TABLE ghost_room RENAME TO ghost_room_v10;
DROP INDEX IF EXISTS lottery_mandate_expires;
DROP INDEX IF EXISTS lottery_stepback_until;

CREATE TABLE lottery_room (
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    -- JSON list of role names; NULL: the configured defaults.
    roles TEXT,
    -- Mandate length in seconds; NULL: the configured default.
    term_s INTEGER CHECK (term_s > 0),
    updated_at REAL NOT NULL,
    PRIMARY KEY (bot, room_id)
);
CREATE TABLE lottery_mandate (
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    role TEXT NOT NULL,
    holder TEXT NOT NULL,
    started REAL NOT NULL,
    expires REAL NOT NULL,
    reminded INTEGER NOT NULL DEFAULT 0 CHECK (reminded IN (0, 1)),
    renewals INTEGER NOT NULL DEFAULT 0 CHECK (renewals >= 0),
    draw_id TEXT,
    PRIMARY KEY (bot, room_id, role),
    CHECK (expires > started)
);
CREATE INDEX lottery_mandate_expires ON lottery_mandate (bot, expires);
CREATE TABLE lottery_renewal (
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    role TEXT NOT NULL,
    proposed_by TEXT NOT NULL,
    proposed_at REAL NOT NULL,
    PRIMARY KEY (bot, room_id, role),
    -- A proposal belongs to the mandate it would renew: it goes when the mandate goes.
    FOREIGN KEY (bot, room_id, role) REFERENCES lottery_mandate (bot, room_id, role)
        ON DELETE CASCADE
);
CREATE TABLE lottery_stepback (
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    since REAL NOT NULL,
    -- NULL: until the member types !stepin.
    until REAL,
    PRIMARY KEY (bot, room_id, user_id)
);
CREATE INDEX lottery_stepback_until ON lottery_stepback (until);
CREATE TABLE lottery_room_option (
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    -- Seconds between the commitment and the reveal; NULL: the configured default.
    commit_window_s INTEGER CHECK (commit_window_s > 0),
    -- Draw again when a mandate ends (1) or not (0); NULL: the configured default.
    redraw INTEGER CHECK (redraw IN (0, 1)),
    updated_at REAL NOT NULL,
    PRIMARY KEY (bot, room_id)
);
CREATE TABLE ghost_room (
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    -- How many reminders the room has had: picks the next voice and framing.
    rotation INTEGER NOT NULL DEFAULT 0 CHECK (rotation >= 0),
    updated_at REAL NOT NULL,
    PRIMARY KEY (bot, room_id)
);
CREATE TABLE ghost_voice (
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (bot, room_id, position),
    FOREIGN KEY (bot, room_id) REFERENCES ghost_room (bot, room_id) ON DELETE CASCADE
);

INSERT INTO lottery_room (bot, room_id, roles, term_s, updated_at)
SELECT COALESCE(
        (SELECT MIN(j.bot) FROM room_joined j WHERE j.room_id = r.room_id),
        (SELECT CASE WHEN COUNT(DISTINCT j.bot) = 1 THEN MIN(j.bot) END FROM room_joined j),
        ''),
    r.room_id, r.roles, r.term_s, r.updated_at
FROM lottery_room_v10 r;
INSERT INTO lottery_mandate (bot, room_id, role, holder, started, expires, reminded, renewals,
    draw_id)
SELECT COALESCE(
        (SELECT d.bot FROM lottery_draw d WHERE d.draw_id = m.draw_id),
        (SELECT MIN(j.bot) FROM room_joined j WHERE j.room_id = m.room_id),
        (SELECT CASE WHEN COUNT(DISTINCT j.bot) = 1 THEN MIN(j.bot) END FROM room_joined j),
        ''),
    m.room_id, m.role, m.holder, m.started, m.expires, m.reminded, m.renewals, m.draw_id
FROM lottery_mandate_v10 m;
INSERT INTO lottery_renewal (bot, room_id, role, proposed_by, proposed_at)
SELECT m.bot, r.room_id, r.role, r.proposed_by, r.proposed_at
FROM lottery_renewal_v10 r JOIN lottery_mandate m ON m.room_id = r.room_id AND m.role = r.role;
INSERT INTO lottery_stepback (bot, room_id, user_id, since, until)
SELECT COALESCE(
        (SELECT MIN(j.bot) FROM room_joined j WHERE j.room_id = s.room_id),
        (SELECT CASE WHEN COUNT(DISTINCT j.bot) = 1 THEN MIN(j.bot) END FROM room_joined j),
        ''),
    s.room_id, s.user_id, s.since, s.until
FROM lottery_stepback_v10 s;
INSERT INTO lottery_room_option (bot, room_id, commit_window_s, redraw, updated_at)
SELECT COALESCE(
        (SELECT MIN(j.bot) FROM room_joined j WHERE j.room_id = o.room_id),
        (SELECT CASE WHEN COUNT(DISTINCT j.bot) = 1 THEN MIN(j.bot) END FROM room_joined j),
        ''),
    o.room_id, o.commit_window_s, o.redraw, o.updated_at
FROM lottery_room_option_v10 o;
INSERT INTO ghost_room (bot, room_id, rotation, updated_at)
SELECT COALESCE(
        (SELECT MIN(j.bot) FROM room_joined j WHERE j.room_id = g.room_id),
        (SELECT CASE WHEN COUNT(DISTINCT j.bot) = 1 THEN MIN(j.bot) END FROM room_joined j),
        ''),
    g.room_id, g.rotation, g.updated_at
FROM ghost_room_v10 g;
INSERT INTO ghost_voice (bot, room_id, position, text)
SELECT g.bot, v.room_id, v.position, v.text
FROM ghost_voice_v10 v JOIN ghost_room g ON g.room_id = v.room_id;

DROP TABLE lottery_renewal_v10;
DROP TABLE lottery_mandate_v10;
DROP TABLE lottery_room_v10;
DROP TABLE lottery_stepback_v10;
DROP TABLE lottery_room_option_v10;
DROP TABLE ghost_voice_v10;
DROP TABLE ghost_room_v10;

-- 3. What a crash must not lose. A redraw owed after a mandate ended is written in the same
--    transaction as the vacancy notice and deleted once the draw is opened, so a process that
--    dies in between opens it at start. Likewise a gathering whose start was posted records the
--    occurrence whose opening draw and speaking order are still owed (rituals_owed_utc).
CREATE TABLE lottery_redraw (
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    -- The vacancy notice's key: the draw's id derives from it, so opening twice is one draw.
    key TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (bot, key)
);
ALTER TABLE ghost_gathering ADD COLUMN rituals_owed_utc REAL;
--    A draw's window for chance counts from the moment its commitment reached the room, not from
--    the command: window_s keeps its length (NULL for older draws: reveal_at - created_at), and
--    reveal_at moves later when the commitment was delivered late.
ALTER TABLE lottery_draw ADD COLUMN window_s REAL CHECK (window_s >= 0);

-- 4. Cell rooms are capped per room and day (protocols.groups.MAX_CELL_ROOMS_PER_DAY): a closed
--    cell room's row stays, without its members, until a day after it was made, so the count
--    holds even when rooms close within the day; then it is forgotten.
ALTER TABLE lottery_cell_room ADD COLUMN closed_at REAL;
