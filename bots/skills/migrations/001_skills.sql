-- The skill-swap board (bots/skills). Every row is its bot's (several bots share a database).
-- Asks and offers: they expire (features.skills.entry_ttl), and are deleted then.
CREATE TABLE skills_entry (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('offer', 'ask')),
    -- The normalised tag (protocols.skills.normalise_skill).
    skill TEXT NOT NULL,
    user_id TEXT NOT NULL,
    note TEXT,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    CHECK (expires_at > created_at)
);
CREATE INDEX skills_entry_room ON skills_entry (bot, room_id, skill);
CREATE INDEX skills_entry_expires ON skills_entry (expires_at);
-- An ask met an offer: each side is asked by DM; names are revealed only when both said yes.
-- The match row names both people (it has to, to ask them); it goes at match_ttl.
CREATE TABLE skills_match (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    skill TEXT NOT NULL,
    ask_id INTEGER NOT NULL,
    offer_id INTEGER NOT NULL,
    asker TEXT NOT NULL,
    offerer TEXT NOT NULL,
    asker_yes INTEGER CHECK (asker_yes IN (0, 1)),
    offerer_yes INTEGER CHECK (offerer_yes IN (0, 1)),
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    UNIQUE (bot, ask_id, offer_id)
);
CREATE INDEX skills_match_expires ON skills_match (expires_at);
-- The room's known skills, for suggestions: a tag is forgotten entry_ttl after its last use.
CREATE TABLE skills_known (
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    skill TEXT NOT NULL,
    last_used REAL NOT NULL,
    PRIMARY KEY (bot, room_id, skill)
);
-- Who holds which skill (!learned), confirmed by a moderator where the room asks for that.
CREATE TABLE skills_held (
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    skill TEXT NOT NULL,
    learned_at REAL NOT NULL,
    -- NULL: not confirmed (counts only in rooms that do not ask for confirmation).
    confirmed_by TEXT,
    PRIMARY KEY (bot, room_id, user_id, skill)
);
CREATE INDEX skills_held_age ON skills_held (learned_at);
-- A role drawable only among holders of a skill (!roles require), and the room's switch.
CREATE TABLE skills_requirement (
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    role TEXT NOT NULL,
    skill TEXT NOT NULL,
    set_at REAL NOT NULL,
    PRIMARY KEY (bot, room_id, role)
);
CREATE TABLE skills_room (
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    confirm INTEGER NOT NULL DEFAULT 0 CHECK (confirm IN (0, 1)),
    updated_at REAL NOT NULL,
    PRIMARY KEY (bot, room_id)
);
