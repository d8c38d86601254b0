-- A room that sits a run out (and why, if it said), and its own note under each phase message.
CREATE TABLE dayofaction_decline (
    run_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    reason TEXT,
    forget_at REAL NOT NULL,
    PRIMARY KEY (run_id, room_id)
);

CREATE TABLE dayofaction_note (
    run_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    text TEXT NOT NULL,
    forget_at REAL NOT NULL,
    PRIMARY KEY (run_id, room_id)
);

-- A room's liaison (from its lottery's `liaison` mandate, or acting as backup), and its backup.
CREATE TABLE dayofaction_liaison (
    room_id TEXT PRIMARY KEY,
    liaison TEXT,
    backup TEXT,
    term_end REAL
);

-- An escalation someone answered (acknowledged after being asked): counts for 30 days.
CREATE TABLE dayofaction_answer (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    at REAL NOT NULL
);

-- A drill: a whole run rehearsed with compressed offsets, kept 7 days, never mixed with runs.
CREATE TABLE dayofaction_drill (
    drill_id TEXT PRIMARY KEY,
    template TEXT NOT NULL,
    coordination_room TEXT NOT NULL,
    speed INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ends_at REAL NOT NULL,
    reported INTEGER NOT NULL DEFAULT 0,
    forget_at REAL NOT NULL
);

-- One phase of a drill in one room: when it goes out, when it went, when it was acknowledged,
-- how far its escalation got.
CREATE TABLE dayofaction_drill_phase (
    drill_id TEXT NOT NULL REFERENCES dayofaction_drill (drill_id) ON DELETE CASCADE,
    room_id TEXT NOT NULL,
    phase TEXT NOT NULL,
    seq INTEGER NOT NULL,
    due_at REAL NOT NULL,
    ack_within REAL,
    event_id TEXT,
    sent_at REAL,
    acked_at REAL,
    escalated INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (drill_id, room_id, phase)
);

-- What a drill posted (phase messages, escalation DMs, the report): redacted when it is forgotten.
CREATE TABLE dayofaction_message (
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    drill_id TEXT NOT NULL,
    forget_at REAL NOT NULL,
    PRIMARY KEY (room_id, event_id)
);
