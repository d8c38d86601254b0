-- A room's slots in one run (from the template's checklist items with a capacity). The seed of an
-- over-subscribed slot's draw is kept from the moment its hash is published until the draw.
CREATE TABLE slots_slot (
    run_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    name TEXT NOT NULL,
    capacity INTEGER NOT NULL,
    closes_at REAL,
    drawn INTEGER NOT NULL DEFAULT 0,
    seed BLOB,
    forget_at REAL NOT NULL,
    PRIMARY KEY (run_id, room_id, name)
);

-- Who claimed a slot, in queue order (the first `capacity` hold it); the claim's event id is the
-- draw's public contribution.
CREATE TABLE slots_claim (
    run_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    name TEXT NOT NULL,
    user_id TEXT NOT NULL,
    pos INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (run_id, room_id, name, user_id),
    FOREIGN KEY (run_id, room_id, name) REFERENCES slots_slot (run_id, room_id, name) ON DELETE CASCADE
);

-- The slot lists the bot posted: reactions on them claim, and they are redacted with the run.
CREATE TABLE slots_message (
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    forget_at REAL NOT NULL,
    PRIMARY KEY (room_id, event_id)
);
