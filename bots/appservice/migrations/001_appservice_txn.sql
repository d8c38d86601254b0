-- Transactions the homeserver pushed to the bot in application-service mode: a transaction is
-- recorded once every event in it was handled, before it is acknowledged, so that a replay (the
-- homeserver retries until it gets a 200) is acknowledged without being handled again. Kept as
-- long as handled events are (retention.handled_events), then forgotten.
CREATE TABLE appservice_txn (
    bot TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    events INTEGER NOT NULL,
    handled_at REAL NOT NULL,
    PRIMARY KEY (bot, txn_id)
);
CREATE INDEX appservice_txn_age ON appservice_txn (handled_at);
