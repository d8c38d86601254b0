-- A run's intake, once started by a coordination room.
CREATE TABLE intake_run (
    run_id TEXT PRIMARY KEY,
    forget_at REAL NOT NULL
);

-- Someone who opted in: where they are in the survey. Their answers stay here only while they
-- answer; once done they move to intake_answer under a random token, and this row keeps no answer.
CREATE TABLE intake_respondent (
    run_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    dm_room TEXT NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    answers TEXT NOT NULL DEFAULT '{}',
    done INTEGER NOT NULL DEFAULT 0,
    forget_at REAL NOT NULL,
    PRIMARY KEY (run_id, user_id)
);

-- Finished answers: per room and question, linked by a random token, never by a person.
CREATE TABLE intake_answer (
    run_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    token TEXT NOT NULL,
    question TEXT NOT NULL,
    value TEXT NOT NULL,
    forget_at REAL NOT NULL
);

-- What the bot posted (invitations in member rooms, questions by DM): reactions on an invitation
-- opt in, and everything is redacted with the run.
CREATE TABLE intake_message (
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    invitation INTEGER NOT NULL DEFAULT 0,
    forget_at REAL NOT NULL,
    PRIMARY KEY (room_id, event_id)
);
