-- tidings schema at revision 0009
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
)
;
CREATE TABLE tasks (
	id INTEGER NOT NULL, 
	workflow VARCHAR(255) NOT NULL, 
	task_id INTEGER NOT NULL, 
	status VARCHAR(64) NOT NULL, 
	snapshot JSON NOT NULL, 
	created_at FLOAT NOT NULL, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_tasks_workflow_task UNIQUE (workflow, task_id)
)
;
CREATE TABLE events (
	id VARCHAR(36) NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	workflow VARCHAR(255), 
	task_id INTEGER, 
	status VARCHAR(64), 
	idempotency_key VARCHAR(255), 
	created_at FLOAT NOT NULL, config VARCHAR(1024), snapshot JSON, scope JSON, 
	PRIMARY KEY (id), 
	UNIQUE (idempotency_key)
)
;
CREATE TABLE deliveries (
	seq INTEGER NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	event_id VARCHAR(36) NOT NULL, 
	channel VARCHAR(32) NOT NULL, 
	destination VARCHAR(512) NOT NULL, 
	address VARCHAR(2048) NOT NULL, 
	label VARCHAR(64) NOT NULL, 
	request JSON NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at FLOAT NOT NULL, 
	expires_at FLOAT NOT NULL, 
	created_at FLOAT NOT NULL, 
	updated_at FLOAT NOT NULL, 
	finished_at FLOAT, 
	last_code VARCHAR(64), 
	last_error TEXT, source VARCHAR(512) DEFAULT '' NOT NULL, digest_id VARCHAR(36), lane INTEGER DEFAULT '1' NOT NULL, 
	PRIMARY KEY (seq), 
	UNIQUE (id), 
	FOREIGN KEY(event_id) REFERENCES events (id)
)
;
CREATE INDEX ix_deliveries_event ON deliveries (event_id)
;
CREATE INDEX ix_deliveries_status ON deliveries (status)
;
CREATE TABLE attempts (
	id INTEGER NOT NULL, 
	delivery_id VARCHAR(36) NOT NULL, 
	at FLOAT NOT NULL, 
	duration_ms FLOAT NOT NULL, 
	outcome VARCHAR(8) NOT NULL, 
	http_status INTEGER, 
	code VARCHAR(64), 
	detail TEXT NOT NULL, 
	worker VARCHAR(128) NOT NULL, 
	PRIMARY KEY (id)
)
;
CREATE INDEX ix_attempts_delivery_id ON attempts (delivery_id)
;
CREATE TABLE runs (
	workflow VARCHAR(255) NOT NULL, 
	task_id INTEGER NOT NULL, 
	pid INTEGER NOT NULL, 
	host VARCHAR(255) NOT NULL, 
	heartbeat_at FLOAT NOT NULL, 
	finished_at FLOAT, 
	cancel_requested_at FLOAT, 
	cancel_requested_by VARCHAR(255), 
	run_dir VARCHAR(2048) NOT NULL, 
	waiting JSON, 
	created_at FLOAT NOT NULL, 
	PRIMARY KEY (workflow, task_id)
)
;
CREATE TABLE approvals (
	id INTEGER NOT NULL, 
	workflow VARCHAR(255) NOT NULL, 
	task_id INTEGER NOT NULL, 
	job VARCHAR(255) NOT NULL, 
	user_id VARCHAR(255) NOT NULL, 
	decision VARCHAR(16) NOT NULL, 
	comment TEXT NOT NULL, 
	at FLOAT NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_approvals_user UNIQUE (workflow, task_id, job, user_id)
)
;
CREATE TABLE destinations (
	"key" VARCHAR(512) NOT NULL, 
	channel VARCHAR(32) NOT NULL, 
	address_key VARCHAR(512) NOT NULL, 
	next_due_at FLOAT, 
	lease_owner VARCHAR(128), 
	lease_until FLOAT, 
	recent JSON, failures INTEGER DEFAULT '0' NOT NULL, pauses INTEGER DEFAULT '0' NOT NULL, paused_until FLOAT, paused_reason TEXT, 
	PRIMARY KEY ("key")
)
;
CREATE INDEX ix_destinations_next_due_at ON destinations (next_due_at)
;
CREATE INDEX ix_destinations_address_key ON destinations (address_key)
;
CREATE TABLE source_runs (
	run_key VARCHAR(255) NOT NULL, 
	state JSON, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (run_key)
)
;
CREATE INDEX ix_source_runs_updated_at ON source_runs (updated_at)
;
CREATE INDEX ix_deliveries_channel_seq ON deliveries (channel, seq)
;
CREATE INDEX ix_deliveries_channel_status_created ON deliveries (channel, status, created_at)
;
CREATE INDEX ix_events_workflow_task ON events (workflow, task_id)
;
CREATE INDEX ix_attempts_at ON attempts (at)
;
CREATE INDEX ix_deliveries_destination_status_lane_seq ON deliveries (destination, status, lane, seq)
;
CREATE INDEX ix_deliveries_digest ON deliveries (digest_id)
;
CREATE TABLE workers (
	name VARCHAR(128) NOT NULL, 
	started_at FLOAT NOT NULL, 
	seen_at FLOAT NOT NULL, 
	PRIMARY KEY (name)
)
