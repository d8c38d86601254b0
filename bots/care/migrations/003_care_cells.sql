-- Scheduled reshuffles (!cells every ...): one schedule per room. ``met`` is the memory of
-- meetings, counts per pair of members (never which cell or when), for keeping pairs apart.
CREATE TABLE care_cells (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    spec TEXT NOT NULL,
    start_date TEXT NOT NULL,
    zone TEXT NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,
    boundary_at REAL,
    handled_through REAL NOT NULL,
    met TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL,
    UNIQUE (bot, room_id)
);

-- The cells of the current generation (and of the previous one until its rooms are closed).
CREATE TABLE care_cell_room (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id INTEGER NOT NULL REFERENCES care_cells (id) ON DELETE CASCADE,
    generation INTEGER NOT NULL,
    cell_index INTEGER NOT NULL,
    members TEXT NOT NULL,
    room_id TEXT,
    closed INTEGER NOT NULL DEFAULT 0
);
