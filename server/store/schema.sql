-- Amparo SQLite schema (idempotent). One file, WAL.
-- resource: one row per (type, id): the current version's number and state. rid is the
--   insertion order, used for stable keyset paging of searches.
-- resource_version: every version ever written; seq is the global change order.
-- idx_*: the search index rows of the current version (server/search/index.py).
-- resource_access: access keys of the current version (the access gate's query face).
-- timer: work due at an instant (server/timers.py), one per name.
-- subscription_delivery, subscription_event: each Subscription's delivery state and
--   event log (server/store/sqlite_subscriptions.py).
-- outbox: one event per committed version, in commit order, for background workers.

CREATE TABLE IF NOT EXISTS resource (
    rid          INTEGER PRIMARY KEY,
    type         TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    last_updated TEXT    NOT NULL,
    lu_us        INTEGER NOT NULL,
    deleted      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (type, id)
);
CREATE INDEX IF NOT EXISTS resource_type_lu ON resource (type, lu_us);
-- a type's resources in rid order (a broad search walks them; see sqlite_search.py)
CREATE INDEX IF NOT EXISTS resource_type ON resource (type);

CREATE TABLE IF NOT EXISTS resource_version (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    rid          INTEGER NOT NULL,
    type         TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    last_updated TEXT    NOT NULL,
    lu_us        INTEGER NOT NULL,
    method       TEXT    NOT NULL,
    deleted      INTEGER NOT NULL,
    body         BLOB,
    UNIQUE (rid, version)
);
CREATE INDEX IF NOT EXISTS resource_version_type ON resource_version (type, seq);

CREATE TABLE IF NOT EXISTS idx_token (
    rid INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL,
    system TEXT, code TEXT, text TEXT
);
CREATE INDEX IF NOT EXISTS idx_token_code ON idx_token (type, param, code, system);
CREATE INDEX IF NOT EXISTS idx_token_rid ON idx_token (rid);
-- :text is a starts-with on the display text (an index range).
CREATE INDEX IF NOT EXISTS idx_token_text ON idx_token (type, param, text) WHERE text IS NOT NULL;

CREATE TABLE IF NOT EXISTS idx_string (
    rid INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL,
    normalized TEXT NOT NULL, exact TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_string_value ON idx_string (type, param, normalized);
CREATE INDEX IF NOT EXISTS idx_string_rid ON idx_string (rid);

CREATE TABLE IF NOT EXISTS idx_reference (
    rid INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL,
    target_type TEXT, target_id TEXT, version TEXT, url TEXT
);
CREATE INDEX IF NOT EXISTS idx_reference_target ON idx_reference (target_id, target_type, param, type);
CREATE INDEX IF NOT EXISTS idx_reference_url ON idx_reference (url) WHERE url IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_reference_rid ON idx_reference (rid);
-- :missing reads every row of one reference parameter.
CREATE INDEX IF NOT EXISTS idx_reference_param ON idx_reference (type, param);

CREATE TABLE IF NOT EXISTS idx_date (
    rid INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL,
    low INTEGER NOT NULL, high INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_date_low ON idx_date (type, param, low);
CREATE INDEX IF NOT EXISTS idx_date_high ON idx_date (type, param, high);
CREATE INDEX IF NOT EXISTS idx_date_rid ON idx_date (rid);

CREATE TABLE IF NOT EXISTS idx_number (
    rid INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL,
    value REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_number_value ON idx_number (type, param, value);
CREATE INDEX IF NOT EXISTS idx_number_rid ON idx_number (rid);

CREATE TABLE IF NOT EXISTS idx_quantity (
    rid INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL,
    system TEXT, code TEXT, unit TEXT, value REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_quantity_value ON idx_quantity (type, param, value);
CREATE INDEX IF NOT EXISTS idx_quantity_rid ON idx_quantity (rid);

CREATE TABLE IF NOT EXISTS idx_uri (
    rid INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL, uri TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_uri_value ON idx_uri (type, param, uri);
CREATE INDEX IF NOT EXISTS idx_uri_rid ON idx_uri (rid);

-- composite parameters: one row per pair of component values of one base item; a part is
-- (k1, k2, k3, value, low, high), laid out per component type (server/search/index.py).
-- Numeric part columns have no declared type, so dates stay exact integers.
CREATE TABLE IF NOT EXISTS idx_composite (
    rid INTEGER NOT NULL, type TEXT NOT NULL, param TEXT NOT NULL,
    a_k1 TEXT, a_k2 TEXT, a_k3 TEXT, a_value, a_low, a_high,
    b_k1 TEXT, b_k2 TEXT, b_k3 TEXT, b_value, b_low, b_high
);
CREATE INDEX IF NOT EXISTS idx_composite_first ON idx_composite (type, param, a_k1, a_k2);
CREATE INDEX IF NOT EXISTS idx_composite_rid ON idx_composite (rid);

CREATE TABLE IF NOT EXISTS resource_access (
    key TEXT NOT NULL, rid INTEGER NOT NULL,
    basis TEXT NOT NULL DEFAULT '',  -- the rules behind the key (port.AccessKeys)
    PRIMARY KEY (key, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS resource_access_rid ON resource_access (rid);

CREATE TABLE IF NOT EXISTS timer (
    name   TEXT PRIMARY KEY,
    due_us INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS timer_due ON timer (due_us);

-- subscription_delivery: where the delivery of one Subscription's events stands
-- (port.Delivery): count numbers its events, delivered is the highest acknowledged.
CREATE TABLE IF NOT EXISTS subscription_delivery (
    subscription     TEXT    PRIMARY KEY,
    count            INTEGER NOT NULL DEFAULT 0,
    delivered        INTEGER NOT NULL DEFAULT 0,
    due_us           INTEGER NOT NULL DEFAULT 0,
    failing_since_us INTEGER,
    attempts         INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS subscription_delivery_due ON subscription_delivery (due_us, subscription);
-- the healthy deliveries with events to send, whatever their due_us (due_deliveries)
CREATE INDEX IF NOT EXISTS subscription_delivery_backlog ON subscription_delivery (due_us, subscription)
    WHERE count > delivered AND failing_since_us IS NULL;

-- subscription_event: one Subscription's events (port.Notification), numbered from 1.
CREATE TABLE IF NOT EXISTS subscription_event (
    subscription TEXT    NOT NULL,
    number       INTEGER NOT NULL,
    topic        TEXT    NOT NULL,
    focus        TEXT    NOT NULL,
    at_us        INTEGER NOT NULL,
    PRIMARY KEY (subscription, number)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS outbox (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    type     TEXT    NOT NULL,
    id       TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    method   TEXT    NOT NULL,
    at       TEXT    NOT NULL
);

CREATE TABLE IF NOT EXISTS outbox_consumer (
    name     TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);

-- lease: who does a piece of background work (server/store/sqlite_lease.py). owner is
-- NULL once released; token (the fencing token) grows each time the lease changes hands.
CREATE TABLE IF NOT EXISTS lease (
    name       TEXT PRIMARY KEY,
    owner      TEXT,
    token      INTEGER NOT NULL,
    expires_us INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- the auth registry (server/store/sqlite_auth.py): OAuth clients (scopes and purposes as
-- space-separated text, the secret only as a salted hash), client assertion ids seen
-- until they expire (replay refusal), and the server's token signing keys.
CREATE TABLE IF NOT EXISTS oauth_client (
    client_id   TEXT PRIMARY KEY,
    institution TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    scopes      TEXT    NOT NULL,
    purposes    TEXT    NOT NULL,
    secret_hash TEXT,
    jwks        TEXT,
    created_us  INTEGER NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE IF NOT EXISTS oauth_jti (
    issuer     TEXT    NOT NULL,
    jti        TEXT    NOT NULL,
    expires_us INTEGER NOT NULL,
    PRIMARY KEY (issuer, jti)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS oauth_jti_expires ON oauth_jti (expires_us);

CREATE TABLE IF NOT EXISTS signing_key (
    kid         TEXT PRIMARY KEY,
    private_jwk TEXT    NOT NULL,
    created_us  INTEGER NOT NULL
);

-- the audit trail's head (server/store/sqlite_audit.py, server/audit/trail.py): how many
-- AuditEvents are chained and the last one's hash, one row, moved in the unit of work
-- that appends; kept apart from the events so that a truncated tail shows.
CREATE TABLE IF NOT EXISTS audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    count INTEGER NOT NULL,
    hash  TEXT    NOT NULL
);

-- the audit trail's events (server/store/sqlite_audit.py): one lean row per event, the
-- sealed AuditEvent JSON and the values auditors search on; the position in the chain
-- is the key, so the trail is read in order.
CREATE TABLE IF NOT EXISTS audit_event (
    position    INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL,
    recorded_us INTEGER NOT NULL,
    body        BLOB    NOT NULL,
    patient     TEXT,
    institution TEXT,
    client      TEXT,
    user_id     TEXT,
    purpose     TEXT,
    outcome     TEXT    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS audit_event_id ON audit_event (id);
CREATE INDEX IF NOT EXISTS audit_event_patient ON audit_event (patient, position)
    WHERE patient IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_event_institution ON audit_event (institution, position);
CREATE INDEX IF NOT EXISTS audit_event_recorded ON audit_event (recorded_us);

-- export_job: one bulk export ($export, server/bulk/), port.ExportJob; body is its
-- request and progress as JSON, read only by server/bulk.
CREATE TABLE IF NOT EXISTS export_job (
    id         TEXT    PRIMARY KEY,
    client_id  TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    created_us INTEGER NOT NULL,
    expires_us INTEGER NOT NULL DEFAULT 0,
    body       BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS export_job_status ON export_job (status, created_us);
CREATE INDEX IF NOT EXISTS export_job_client ON export_job (client_id, status);
