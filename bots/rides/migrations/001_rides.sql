-- Offers and needs of seats for one run, forgotten with the run (forget_at). Who drives and who
-- rides is kept only to send the two DMs; the rooms see counts per area.
CREATE TABLE rides_offer (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    driver TEXT NOT NULL,
    area TEXT NOT NULL,
    at_min INTEGER NOT NULL,
    seats INTEGER NOT NULL,
    forget_at REAL NOT NULL
);

CREATE TABLE rides_need (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    rider TEXT NOT NULL,
    area TEXT NOT NULL,
    seats INTEGER NOT NULL,
    at_min INTEGER,
    forget_at REAL NOT NULL
);

-- A match waiting for the driver ('pending'), approved, or refused (never proposed again).
CREATE TABLE rides_proposal (
    offer_id INTEGER NOT NULL REFERENCES rides_offer (id) ON DELETE CASCADE,
    need_id INTEGER NOT NULL REFERENCES rides_need (id) ON DELETE CASCADE,
    seats INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'refused')),
    PRIMARY KEY (offer_id, need_id)
);

-- The DMs the bot sent about rides, redacted with the run.
CREATE TABLE rides_message (
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    forget_at REAL NOT NULL,
    PRIMARY KEY (room_id, event_id)
);
