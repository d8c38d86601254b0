-- Herald, joined by consent and scoped per bot.
-- Every herald table gets a `bot` column (the bot's user id): several bots in one process share
-- the database, and each rebuilds, sends and answers only what is its own. A coalition's name is
-- unique per bot, not across the process. Joining takes a one-time invitation: herald_invite
-- keeps only the SHA-256 of each token, with its expiry; a used or expired token is deleted.
-- Existing rows go to the bot that is in their (coordination) room, else to the only bot there
-- ever was; rows no bot can be found for get '' and are forgotten by age like any other.
-- SQLite cannot change a primary key in place: the old tables are renamed, copied, dropped.
ALTER TABLE herald_amendment RENAME TO herald_amendment_v5;
ALTER TABLE herald_delivery RENAME TO herald_delivery_v5;
ALTER TABLE herald_event RENAME TO herald_event_v5;
ALTER TABLE herald_run RENAME TO herald_run_v5;
ALTER TABLE herald_member RENAME TO herald_member_v5;
ALTER TABLE herald_coalition RENAME TO herald_coalition_v5;
ALTER TABLE herald_local RENAME TO herald_local_v5;
DROP INDEX IF EXISTS herald_member_room;
DROP INDEX IF EXISTS herald_run_coalition;
DROP INDEX IF EXISTS herald_run_age;
DROP INDEX IF EXISTS herald_delivery_due;
DROP INDEX IF EXISTS herald_delivery_room;
DROP INDEX IF EXISTS herald_event_coalition;

CREATE TABLE herald_coalition (
    bot TEXT NOT NULL,
    name TEXT NOT NULL,
    coordination_room TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (bot, name)
);
CREATE TABLE herald_member (
    bot TEXT NOT NULL,
    coalition TEXT NOT NULL,
    room_id TEXT NOT NULL,
    homeserver TEXT NOT NULL,
    liaison TEXT,
    joined_at REAL NOT NULL,
    PRIMARY KEY (bot, coalition, room_id),
    FOREIGN KEY (bot, coalition) REFERENCES herald_coalition (bot, name) ON DELETE CASCADE
);
CREATE INDEX herald_member_room ON herald_member (bot, room_id);
CREATE TABLE herald_local (
    bot TEXT NOT NULL,
    room_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (bot, room_id, key)
);
CREATE TABLE herald_run (
    run_id TEXT PRIMARY KEY,
    bot TEXT NOT NULL,
    coalition TEXT NOT NULL,
    template TEXT NOT NULL,
    action_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'planned'
        CHECK (state IN ('planned', 'confirmed', 'cancelled', 'done')),
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    FOREIGN KEY (bot, coalition) REFERENCES herald_coalition (bot, name) ON DELETE CASCADE
);
CREATE INDEX herald_run_coalition ON herald_run (bot, coalition, state);
CREATE INDEX herald_run_age ON herald_run (action_at);
CREATE TABLE herald_delivery (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bot TEXT NOT NULL,
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
CREATE INDEX herald_delivery_due ON herald_delivery (bot, state, due_at);
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
    bot TEXT NOT NULL,
    coalition TEXT NOT NULL,
    room_id TEXT NOT NULL,
    title TEXT NOT NULL,
    starts_at REAL NOT NULL,
    place TEXT,
    created_at REAL NOT NULL,
    FOREIGN KEY (bot, coalition) REFERENCES herald_coalition (bot, name) ON DELETE CASCADE
);
CREATE INDEX herald_event_coalition ON herald_event (bot, coalition, starts_at);
CREATE TABLE herald_invite (
    token_hash TEXT PRIMARY KEY,
    bot TEXT NOT NULL,
    coalition TEXT NOT NULL,
    room_id TEXT,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    FOREIGN KEY (bot, coalition) REFERENCES herald_coalition (bot, name) ON DELETE CASCADE
);
CREATE INDEX herald_invite_coalition ON herald_invite (bot, coalition);
CREATE INDEX herald_invite_expiry ON herald_invite (expires_at);

INSERT INTO herald_coalition (bot, name, coordination_room, created_at)
SELECT COALESCE(
        (SELECT MIN(j.bot) FROM room_joined j WHERE j.room_id = c.coordination_room),
        (SELECT CASE WHEN COUNT(DISTINCT j.bot) = 1 THEN MIN(j.bot) END FROM room_joined j),
        ''),
    c.name, c.coordination_room, c.created_at
FROM herald_coalition_v5 c;
INSERT INTO herald_member (bot, coalition, room_id, homeserver, liaison, joined_at)
SELECT c.bot, m.coalition, m.room_id, m.homeserver, m.liaison, m.joined_at
FROM herald_member_v5 m JOIN herald_coalition c ON c.name = m.coalition;
INSERT INTO herald_local (bot, room_id, key, value, updated_at)
SELECT COALESCE(
        (SELECT MIN(m.bot) FROM herald_member m WHERE m.room_id = l.room_id),
        (SELECT MIN(j.bot) FROM room_joined j WHERE j.room_id = l.room_id),
        (SELECT CASE WHEN COUNT(DISTINCT j.bot) = 1 THEN MIN(j.bot) END FROM room_joined j),
        ''),
    l.room_id, l.key, l.value, l.updated_at
FROM herald_local_v5 l;
INSERT INTO herald_run (run_id, bot, coalition, template, action_at, state, created_at, updated_at)
SELECT r.run_id, c.bot, r.coalition, r.template, r.action_at, r.state, r.created_at, r.updated_at
FROM herald_run_v5 r JOIN herald_coalition c ON c.name = r.coalition;
INSERT INTO herald_delivery (id, bot, run_id, phase, room_id, txn_id, due_at, body, html, state,
    event_id, error, sent_at, ack_by, acked_at, acked_by, escalation_step)
SELECT d.id, r.bot, d.run_id, d.phase, d.room_id, d.txn_id, d.due_at, d.body, d.html, d.state,
    d.event_id, d.error, d.sent_at, d.ack_by, d.acked_at, d.acked_by, d.escalation_step
FROM herald_delivery_v5 d JOIN herald_run r ON r.run_id = d.run_id;
INSERT INTO herald_amendment (run_id, seq, text, created_at)
SELECT a.run_id, a.seq, a.text, a.created_at
FROM herald_amendment_v5 a JOIN herald_run r ON r.run_id = a.run_id;
INSERT INTO herald_event (id, bot, coalition, room_id, title, starts_at, place, created_at)
SELECT e.id, c.bot, e.coalition, e.room_id, e.title, e.starts_at, e.place, e.created_at
FROM herald_event_v5 e JOIN herald_coalition c ON c.name = e.coalition;

DROP TABLE herald_amendment_v5;
DROP TABLE herald_delivery_v5;
DROP TABLE herald_event_v5;
DROP TABLE herald_run_v5;
DROP TABLE herald_member_v5;
DROP TABLE herald_coalition_v5;
DROP TABLE herald_local_v5;
