-- The runtime's own state: where each bot's sync stands, which events it has handled,
-- what it must still send, and when it joined each room.
CREATE TABLE sync_checkpoint (
    bot TEXT PRIMARY KEY,
    next_batch TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE handled_event (
    bot TEXT NOT NULL,
    event_id TEXT NOT NULL,
    handled_at REAL NOT NULL,
    PRIMARY KEY (bot, event_id)
);
CREATE INDEX handled_event_age ON handled_event (handled_at);
CREATE TABLE room_joined (
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    joined_ts INTEGER NOT NULL,
    PRIMARY KEY (bot, room_id)
);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bot TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    content TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    event_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at REAL NOT NULL,
    sent_at REAL,
    UNIQUE (bot, txn_id)
);
CREATE INDEX outbox_pending ON outbox (bot, state, id);
CREATE TABLE room_setting (
    room_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (room_id, key)
);
