-- Role lottery: each room's roles and mandate length, the mandates running now and renewals
-- proposed for them, draws between commit and reveal (and after, for !verify), the draw
-- history that fairness weights read, step-backs from the pool, and earlier triads/cells.
-- History-like tables (lottery_draw, lottery_history, lottery_grouping) are deleted past the
-- retention window by storage/lottery.py (forget_older_than); step-backs past their end too.
CREATE TABLE lottery_room (
    room_id TEXT PRIMARY KEY,
    -- JSON list of role names; NULL: the configured defaults.
    roles TEXT,
    -- Mandate length in seconds; NULL: the configured default.
    term_s INTEGER CHECK (term_s > 0),
    updated_at REAL NOT NULL
);
CREATE TABLE lottery_mandate (
    room_id TEXT NOT NULL,
    role TEXT NOT NULL,
    holder TEXT NOT NULL,
    started REAL NOT NULL,
    expires REAL NOT NULL,
    reminded INTEGER NOT NULL DEFAULT 0 CHECK (reminded IN (0, 1)),
    renewals INTEGER NOT NULL DEFAULT 0 CHECK (renewals >= 0),
    draw_id TEXT,
    PRIMARY KEY (room_id, role),
    CHECK (expires > started)
);
CREATE INDEX lottery_mandate_expires ON lottery_mandate (expires);
CREATE TABLE lottery_renewal (
    room_id TEXT NOT NULL,
    role TEXT NOT NULL,
    proposed_by TEXT NOT NULL,
    proposed_at REAL NOT NULL,
    PRIMARY KEY (room_id, role),
    -- A proposal belongs to the mandate it would renew: it goes when the mandate goes.
    FOREIGN KEY (room_id, role) REFERENCES lottery_mandate (room_id, role) ON DELETE CASCADE
);
CREATE TABLE lottery_draw (
    draw_id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'committed' CHECK (state IN ('committed', 'revealed')),
    commitment TEXT NOT NULL,
    -- The committed inputs (protocols.lottery.DrawInputs.to_json), as canonical JSON.
    inputs TEXT NOT NULL,
    -- Secret until the reveal, then published; kept so a restart between commit and reveal
    -- can still reveal, and so !verify can show it afterwards.
    seed BLOB NOT NULL,
    commit_event_id TEXT,
    reveal_at REAL NOT NULL,
    created_at REAL NOT NULL,
    revealed_at REAL,
    -- The published draw (protocols.lottery.PublishedDraw.to_json) once revealed.
    result TEXT,
    CHECK ((state = 'revealed') = (result IS NOT NULL))
);
CREATE INDEX lottery_draw_due ON lottery_draw (state, reveal_at);
CREATE INDEX lottery_draw_room ON lottery_draw (room_id, created_at);
CREATE INDEX lottery_draw_age ON lottery_draw (created_at);
CREATE UNIQUE INDEX lottery_draw_commit_event ON lottery_draw (commit_event_id);
CREATE TABLE lottery_contribution (
    draw_id TEXT NOT NULL REFERENCES lottery_draw (draw_id) ON DELETE CASCADE,
    value TEXT NOT NULL,
    added_at REAL NOT NULL,
    PRIMARY KEY (draw_id, value)
);
CREATE TABLE lottery_history (
    room_id TEXT NOT NULL,
    draw_id TEXT NOT NULL,
    role TEXT NOT NULL,
    holder TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (draw_id, role)
);
CREATE INDEX lottery_history_room ON lottery_history (room_id, role, at);
CREATE INDEX lottery_history_age ON lottery_history (at);
CREATE TABLE lottery_stepback (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    since REAL NOT NULL,
    -- NULL: until the member types !stepin.
    until REAL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX lottery_stepback_until ON lottery_stepback (until);
CREATE TABLE lottery_grouping (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('triads', 'cells')),
    -- JSON list of groups, each a list of user ids.
    groups TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX lottery_grouping_room ON lottery_grouping (room_id, kind, at);
CREATE INDEX lottery_grouping_age ON lottery_grouping (at);
