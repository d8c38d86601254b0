-- Coalitions without a center (issue 12). A herald's SQLite is its outbox and a cache of the
-- coalition's control room; everything here can be rebuilt from that room (and from the other
-- heralds, who resend the private parts on request).
-- herald_control: the control room of a coalition this bot is a herald of.
CREATE TABLE herald_control (
    bot TEXT NOT NULL,
    coalition TEXT NOT NULL,
    control_room TEXT NOT NULL,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (bot, control_room)
);
CREATE UNIQUE INDEX herald_control_coalition ON herald_control (bot, coalition);
-- herald_control_event: private (decrypted timeline) events of a control room, as received:
-- plans, plan parts, amendments, liaisons, the charter. Forgotten with their run, or with age.
CREATE TABLE herald_control_event (
    bot TEXT NOT NULL,
    control_room TEXT NOT NULL,
    event_id TEXT NOT NULL,
    run_id TEXT,
    received_at INTEGER NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (bot, event_id)
);
CREATE INDEX herald_control_event_room ON herald_control_event (bot, control_room);
-- herald_copy: a run's message seen in a member room (from any registered herald): what the
-- delivery rule holds back on. Kept so a restarted herald does not send a key again.
CREATE TABLE herald_copy (
    bot TEXT NOT NULL,
    run_id TEXT NOT NULL,
    phase TEXT NOT NULL,
    room_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    event_id TEXT NOT NULL,
    origin_ts INTEGER NOT NULL,
    digest TEXT,
    PRIMARY KEY (bot, event_id)
);
CREATE INDEX herald_copy_run ON herald_copy (bot, run_id);
-- herald_shared_run: the revision of a run this herald last shared or adopted.
CREATE TABLE herald_shared_run (
    bot TEXT NOT NULL,
    run_id TEXT NOT NULL,
    rev INTEGER NOT NULL,
    plan_hash TEXT NOT NULL,
    PRIMARY KEY (bot, run_id)
);
