-- The whole data model of docs/api.md section 2, in types both SQLite and PostgreSQL accept.
-- Ids are 24-hex strings; timestamps are ISO-8601 UTC text with milliseconds; nested
-- documents that are only ever read whole are JSON text; anything filtered or joined on
-- has its own column or table.

-- 2.2 users. lawyer_details/student_details/address/profile_completion are JSON documents;
-- verification_status, experience and the specializations table mirror the parts of
-- lawyer_details that the directory filters on (written together by store::users).
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    phone TEXT,
    address TEXT,
    profile_picture TEXT,
    is_verified BOOLEAN NOT NULL DEFAULT FALSE,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    refresh_token_hash TEXT,
    password_reset_hash TEXT,
    password_reset_expires TEXT,
    profile_completion TEXT,
    lawyer_details TEXT,
    student_details TEXT,
    verification_status TEXT,
    experience BIGINT,
    connections TEXT NOT NULL DEFAULT '[]',
    message_requests TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email ON users (email);
CREATE INDEX IF NOT EXISTS users_role ON users (role);
CREATE INDEX IF NOT EXISTS users_is_active ON users (is_active);
CREATE INDEX IF NOT EXISTS users_role_active ON users (role, is_active, is_verified, created_at);
CREATE INDEX IF NOT EXISTS users_verification_status ON users (verification_status);
CREATE INDEX IF NOT EXISTS users_created_at ON users (created_at DESC);
CREATE INDEX IF NOT EXISTS users_reset_hash ON users (password_reset_hash);

CREATE TABLE IF NOT EXISTS lawyer_specializations (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    specialization TEXT NOT NULL,
    PRIMARY KEY (user_id, specialization)
);
CREATE INDEX IF NOT EXISTS lawyer_specializations_value ON lawyer_specializations (specialization, user_id);

-- 2.3 / 2.4 queries and disputes share one table: "case" in docs/api.md. `category` holds the
-- query category or the dispute's disputeType; dispute-only fields live in `details`.
CREATE TABLE IF NOT EXISTS cases (
    id TEXT PRIMARY KEY,
    case_type TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    category TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    priority TEXT NOT NULL DEFAULT 'medium',
    citizen_id TEXT NOT NULL REFERENCES users (id),
    assigned_lawyer_id TEXT REFERENCES users (id),
    details TEXT NOT NULL DEFAULT '{}',
    notes TEXT NOT NULL DEFAULT '[]',
    timeline TEXT NOT NULL DEFAULT '[]',
    documents TEXT NOT NULL DEFAULT '[]',
    resolution TEXT,
    resolved_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cases_citizen ON cases (citizen_id, status);
CREATE INDEX IF NOT EXISTS cases_assigned ON cases (assigned_lawyer_id, status);
CREATE INDEX IF NOT EXISTS cases_status ON cases (status, created_at);
CREATE INDEX IF NOT EXISTS cases_type_created ON cases (case_type, created_at DESC);
CREATE INDEX IF NOT EXISTS cases_category ON cases (category);
CREATE INDEX IF NOT EXISTS cases_created_at ON cases (created_at DESC);

-- lawyerRequests (direction 'lawyer': offers and invitations) and citizenRequests
-- (direction 'citizen': a citizen asks a lawyer) of a case.
CREATE TABLE IF NOT EXISTS case_requests (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    direction TEXT NOT NULL,
    lawyer_id TEXT NOT NULL REFERENCES users (id),
    requested_by TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    message TEXT,
    proposed_fee DOUBLE PRECISION,
    estimated_duration TEXT,
    requested_at TEXT NOT NULL,
    responded_at TEXT
);
CREATE INDEX IF NOT EXISTS case_requests_case ON case_requests (case_id, direction, status);
CREATE INDEX IF NOT EXISTS case_requests_lawyer ON case_requests (lawyer_id, direction, status, requested_at);

-- 2.6 direct connections.
CREATE TABLE IF NOT EXISTS direct_connections (
    id TEXT PRIMARY KEY,
    citizen_id TEXT NOT NULL REFERENCES users (id),
    lawyer_id TEXT NOT NULL REFERENCES users (id),
    status TEXT NOT NULL DEFAULT 'pending',
    request_message TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    responded_at TEXT,
    response_message TEXT,
    chat_id TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS direct_connections_pair ON direct_connections (citizen_id, lawyer_id);
CREATE UNIQUE INDEX IF NOT EXISTS direct_connections_chat ON direct_connections (chat_id);
CREATE INDEX IF NOT EXISTS direct_connections_citizen ON direct_connections (citizen_id, status);
CREATE INDEX IF NOT EXISTS direct_connections_lawyer ON direct_connections (lawyer_id, status);

-- 2.5 chats, with participants, messages and read receipts in their own tables.
CREATE TABLE IF NOT EXISTS chats (
    id TEXT PRIMARY KEY,
    chat_id TEXT NOT NULL,
    chat_type TEXT NOT NULL,
    status TEXT NOT NULL,
    related_case_type TEXT,
    related_case_id TEXT,
    direct_connection_id TEXT,
    last_message_content TEXT,
    last_message_sender TEXT,
    last_message_at TEXT,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS chats_chat_id ON chats (chat_id);
CREATE INDEX IF NOT EXISTS chats_related_case ON chats (related_case_id);
CREATE INDEX IF NOT EXISTS chats_type ON chats (chat_type, status);
CREATE INDEX IF NOT EXISTS chats_updated_at ON chats (updated_at DESC);

CREATE TABLE IF NOT EXISTS chat_participants (
    chat_ref TEXT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL,
    joined_at TEXT NOT NULL,
    PRIMARY KEY (chat_ref, user_id)
);
CREATE INDEX IF NOT EXISTS chat_participants_user ON chat_participants (user_id, chat_ref);

CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    chat_ref TEXT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    sender_id TEXT NOT NULL REFERENCES users (id),
    content TEXT NOT NULL,
    message_type TEXT NOT NULL DEFAULT 'text',
    file_data TEXT,
    attachments TEXT NOT NULL DEFAULT '[]',
    client_temp_id TEXT,
    sent_at TEXT NOT NULL,
    edited_at TEXT,
    is_deleted BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX IF NOT EXISTS messages_chat_time ON messages (chat_ref, sent_at);
CREATE INDEX IF NOT EXISTS messages_sender ON messages (sender_id);

CREATE TABLE IF NOT EXISTS message_reads (
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id),
    read_at TEXT NOT NULL,
    PRIMARY KEY (message_id, user_id)
);
CREATE INDEX IF NOT EXISTS message_reads_user ON message_reads (user_id, message_id);

-- 2.7 documents, with the access list in its own table.
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    original_name TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    storage_key TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    url TEXT NOT NULL,
    size BIGINT NOT NULL,
    document_type TEXT NOT NULL,
    related_id TEXT NOT NULL,
    related_model TEXT NOT NULL,
    uploaded_by TEXT NOT NULL REFERENCES users (id),
    uploaded_by_role TEXT NOT NULL,
    description TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    document_category TEXT NOT NULL DEFAULT 'other',
    is_verified BOOLEAN NOT NULL DEFAULT FALSE,
    verified_by TEXT,
    verified_at TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    thumbnail_key TEXT,
    status TEXT NOT NULL DEFAULT 'active',
    uploaded_at TEXT NOT NULL,
    last_accessed_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS documents_hash_entity ON documents (content_hash, document_type, related_id);
CREATE INDEX IF NOT EXISTS documents_entity ON documents (document_type, related_id, status);
CREATE INDEX IF NOT EXISTS documents_uploader ON documents (uploaded_by, document_type);
CREATE INDEX IF NOT EXISTS documents_status_type ON documents (status, document_type);
CREATE INDEX IF NOT EXISTS documents_uploaded_at ON documents (uploaded_at DESC);

CREATE TABLE IF NOT EXISTS document_access (
    document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL,
    PRIMARY KEY (document_id, user_id)
);
CREATE INDEX IF NOT EXISTS document_access_user ON document_access (user_id, document_id);

-- 2.8 consultations.
CREATE TABLE IF NOT EXISTS consultations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT,
    citizen_id TEXT NOT NULL REFERENCES users (id),
    lawyer_id TEXT NOT NULL REFERENCES users (id),
    related_case TEXT,
    consultation_type TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'requested',
    scheduled_at TEXT NOT NULL,
    duration BIGINT NOT NULL DEFAULT 30,
    fee TEXT NOT NULL DEFAULT '{"currency":"INR","paymentStatus":"pending"}',
    meeting_details TEXT NOT NULL DEFAULT '{}',
    agenda TEXT NOT NULL DEFAULT '[]',
    notes TEXT NOT NULL DEFAULT '{}',
    follow_up TEXT NOT NULL DEFAULT '{"required":false}',
    cancellation TEXT,
    reschedule TEXT,
    feedback TEXT,
    reminders TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consultations_parties ON consultations (citizen_id, lawyer_id);
CREATE INDEX IF NOT EXISTS consultations_lawyer_time ON consultations (lawyer_id, scheduled_at);
CREATE INDEX IF NOT EXISTS consultations_citizen_time ON consultations (citizen_id, scheduled_at);
CREATE INDEX IF NOT EXISTS consultations_scheduled ON consultations (scheduled_at);
CREATE INDEX IF NOT EXISTS consultations_status ON consultations (status)
