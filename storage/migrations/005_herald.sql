-- Herald: coalitions of rooms, their local details, day-of-action runs with every planned
-- message and its acknowledgement, amendments, and the coalition calendar.
-- Runs (with their deliveries and amendments) and events are forgotten on schedule.
CREATE TABLE herald_coalition (
    name TEXT PRIMARY KEY,
    coordination_room TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE herald_member (
    coalition TEXT NOT NULL REFERENCES herald_coalition (name) ON DELETE CASCADE,
    room_id TEXT NOT NULL,
    homeserver TEXT NOT NULL,
    liaison TEXT,
    joined_at REAL NOT NULL,
    PRIMARY KEY (coalition, room_id)
);
CREATE INDEX herald_member_room ON herald_member (room_id);
CREATE TABLE herald_local (
    room_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (room_id, key)
);
CREATE TABLE herald_run (
    run_id TEXT PRIMARY KEY,
    coalition TEXT NOT NULL REFERENCES herald_coalition (name) ON DELETE CASCADE,
    template TEXT NOT NULL,
    action_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'planned'
        CHECK (state IN ('planned', 'confirmed', 'cancelled', 'done')),
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX herald_run_coalition ON herald_run (coalition, state);
CREATE INDEX herald_run_age ON herald_run (action_at);
CREATE TABLE herald_delivery (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES herald_run (run_id) ON DELETE CASCADE,
    phase TEXT NOT NULL,
    room_id TEXT NOT NULL,
    txn_id TEXT NOT NULL UNIQUE,
    due_at REAL NOT NULL,
    body TEXT NOT NULL,
    html TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sent', 'failed', 'cancelled')),
    event_id TEXT,
    error TEXT,
    sent_at REAL,
    ack_by REAL,
    acked_at REAL,
    acked_by TEXT,
    escalation_step INTEGER NOT NULL DEFAULT 0,
    UNIQUE (run_id, phase, room_id)
);
CREATE INDEX herald_delivery_due ON herald_delivery (state, due_at);
CREATE INDEX herald_delivery_room ON herald_delivery (room_id, run_id);
CREATE TABLE herald_amendment (
    run_id TEXT NOT NULL REFERENCES herald_run (run_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL CHECK (seq >= 1),
    text TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE herald_event (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    coalition TEXT NOT NULL REFERENCES herald_coalition (name) ON DELETE CASCADE,
    room_id TEXT NOT NULL,
    title TEXT NOT NULL,
    starts_at REAL NOT NULL,
    place TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX herald_event_coalition ON herald_event (coalition, starts_at);
