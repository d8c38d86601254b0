-- Care rotas: one row per rota, its whole state (pool, aways, turns given, counts) as JSON that
-- protocols.rota reads and writes. Who did which turn is kept only until the history retention;
-- then it is folded into counts per member (protocols.rota.fold_history).
CREATE TABLE care_rota (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    name TEXT NOT NULL,
    recurrence TEXT NOT NULL,
    start_date TEXT NOT NULL,
    zone TEXT NOT NULL,
    state TEXT NOT NULL,
    handled_through REAL NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (bot, room_id, name)
);

-- A holder's request that someone take their turn: the message in the room that a reaction or
-- !rota take answers. Deleted (and its message redacted) when taken, withdrawn, when the turn
-- passes, or after the swap retention.
CREATE TABLE care_swap (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rota_id INTEGER NOT NULL REFERENCES care_rota (id) ON DELETE CASCADE,
    turn_number INTEGER NOT NULL,
    turn_at REAL NOT NULL,
    giver TEXT NOT NULL,
    event_id TEXT,
    created_at REAL NOT NULL
);

-- Reminders sent by DM before a turn: only where the message is, to redact it after the
-- reminder retention. Who it was for is not kept.
CREATE TABLE care_reminder (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    sent_at REAL NOT NULL
);

-- The bot's direct room with a person, for reminders and handovers; forgotten when unused for
-- the reminder retention or when the bot is out of that room.
CREATE TABLE care_dm (
    bot TEXT NOT NULL,
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    used_at REAL NOT NULL,
    PRIMARY KEY (bot, user_id)
);
