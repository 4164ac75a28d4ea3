package db

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// migration is one step of the schema. Steps are applied in order, each in
// its own transaction, and recorded in schema_migrations. Never edit a step
// that has shipped: add a new one.
type migration struct {
	version int
	name    string
	sql     string
}

// In the SQL below, {{ID}} is the auto-numbered primary key column type and
// {{C}} the binary collation that makes range scans on paths work; a
// statement that starts with {{POSTGRES}} runs on PostgreSQL only.
var migrations = []migration{
	{1, "catalog", `
CREATE TABLE entries (
	id {{ID}},
	parent TEXT {{C}} NOT NULL,
	name TEXT {{C}} NOT NULL,
	kind CHAR(1) NOT NULL,
	size BIGINT NOT NULL DEFAULT 0,
	mtime BIGINT NOT NULL,
	sha256 TEXT NOT NULL DEFAULT '',
	blob_id TEXT NOT NULL DEFAULT '',
	version BIGINT NOT NULL DEFAULT 1,
	created_by TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	UNIQUE (parent, name)
);
CREATE INDEX entries_blob ON entries (blob_id) WHERE blob_id <> '';
CREATE TABLE uploads (
	blob_id TEXT PRIMARY KEY,
	path TEXT NOT NULL,
	started_at BIGINT NOT NULL
);
CREATE TABLE garbage (
	blob_id TEXT PRIMARY KEY,
	since BIGINT NOT NULL
);
`},
	{2, "identity", `
CREATE TABLE orgs (
	id {{ID}},
	slug TEXT {{C}} NOT NULL UNIQUE,
	name TEXT NOT NULL,
	kind TEXT NOT NULL,
	parent_id BIGINT REFERENCES orgs (id),
	status TEXT NOT NULL DEFAULT 'active',
	created_at BIGINT NOT NULL
);
CREATE TABLE users (
	id {{ID}},
	login TEXT {{C}} NOT NULL UNIQUE,
	name TEXT NOT NULL DEFAULT '',
	email TEXT NOT NULL DEFAULT '',
	org_id BIGINT NOT NULL REFERENCES orgs (id),
	role TEXT NOT NULL DEFAULT '',
	status TEXT NOT NULL,
	password_hash TEXT NOT NULL DEFAULT '',
	expires_at BIGINT NOT NULL DEFAULT 0,
	last_login BIGINT NOT NULL DEFAULT 0,
	cidrs TEXT NOT NULL DEFAULT '',
	protocols TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX users_org ON users (org_id);
CREATE TABLE user_keys (
	id {{ID}},
	user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	fingerprint TEXT NOT NULL UNIQUE,
	key_type TEXT NOT NULL,
	public_key TEXT NOT NULL,
	comment TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL DEFAULT 0,
	last_used BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX user_keys_user ON user_keys (user_id);
CREATE TABLE user_groups (
	id {{ID}},
	name TEXT {{C}} NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL
);
CREATE TABLE group_members (
	id {{ID}},
	group_id BIGINT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
	kind TEXT NOT NULL,
	user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
	org_id BIGINT REFERENCES orgs (id) ON DELETE CASCADE,
	role TEXT NOT NULL DEFAULT '',
	descendants INTEGER NOT NULL DEFAULT 0,
	member_key TEXT NOT NULL,
	UNIQUE (group_id, member_key)
);
CREATE TABLE grants (
	id {{ID}},
	subject_kind TEXT NOT NULL,
	user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
	group_id BIGINT REFERENCES user_groups (id) ON DELETE CASCADE,
	org_id BIGINT REFERENCES orgs (id) ON DELETE CASCADE,
	role TEXT NOT NULL DEFAULT '',
	descendants INTEGER NOT NULL DEFAULT 0,
	path TEXT {{C}} NOT NULL,
	perms TEXT NOT NULL,
	allow_patterns TEXT NOT NULL DEFAULT '',
	deny_patterns TEXT NOT NULL DEFAULT '',
	max_size BIGINT NOT NULL DEFAULT 0,
	created_by TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL
);
CREATE TABLE settings (
	name TEXT PRIMARY KEY,
	value BIGINT NOT NULL
);
INSERT INTO settings (name, value) VALUES ('authz_generation', 1)
`},
	{3, "locks", `
CREATE TABLE locks (
	token TEXT PRIMARY KEY,
	root TEXT {{C}} NOT NULL,
	zero_depth INTEGER NOT NULL,
	login TEXT NOT NULL,
	owner_xml TEXT NOT NULL DEFAULT '',
	expires_at BIGINT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX locks_root ON locks (root);
CREATE INDEX locks_login ON locks (login)
`},
	{4, "dead properties", `
CREATE TABLE props (
	entry_id BIGINT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
	space TEXT NOT NULL,
	local TEXT NOT NULL,
	lang TEXT NOT NULL DEFAULT '',
	xml TEXT NOT NULL,
	PRIMARY KEY (entry_id, space, local)
)
`},
	{5, "shared locks", `
ALTER TABLE locks ADD COLUMN shared INTEGER NOT NULL DEFAULT 0
`},
	{6, "publish times and provisional locks", `
ALTER TABLE entries ADD COLUMN published_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE locks ADD COLUMN provisional INTEGER NOT NULL DEFAULT 0
`},
	{7, "drop box conflict copies", `
ALTER TABLE entries ADD COLUMN shadows TEXT {{C}} NOT NULL DEFAULT '';
CREATE INDEX entries_shadows ON entries (parent, shadows) WHERE shadows <> ''
`},
	{8, "audit trail", `
CREATE TABLE audit_queue (
	id {{ID}},
	data TEXT NOT NULL
);
CREATE TABLE audit_log (
	seq BIGINT PRIMARY KEY,
	at BIGINT NOT NULL,
	actor TEXT {{C}} NOT NULL,
	actor_org TEXT {{C}} NOT NULL,
	action TEXT NOT NULL,
	path TEXT {{C}} NOT NULL,
	path_org TEXT {{C}} NOT NULL,
	outcome TEXT NOT NULL,
	data TEXT,
	pruned INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, at);
CREATE INDEX audit_log_orgs ON audit_log (actor_org, path_org, at);
CREATE TABLE audit_hashes (
	idx BIGINT PRIMARY KEY,
	hash TEXT NOT NULL
);
CREATE TABLE audit_checkpoints (
	size BIGINT PRIMARY KEY,
	root TEXT NOT NULL,
	note TEXT NOT NULL,
	at BIGINT NOT NULL
)
`},
	{9, "administrators and API tokens", `
CREATE TABLE admin_roles (
	user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	role TEXT NOT NULL,
	org TEXT {{C}} NOT NULL DEFAULT ''
);
ALTER TABLE user_groups ADD COLUMN owner_org TEXT {{C}} NOT NULL DEFAULT '';
CREATE TABLE api_tokens (
	id {{ID}},
	user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	secret_hash TEXT NOT NULL,
	read_only INTEGER NOT NULL DEFAULT 0,
	org TEXT {{C}} NOT NULL DEFAULT '',
	expires_at BIGINT NOT NULL DEFAULT 0,
	last_used BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	revoked_at BIGINT NOT NULL DEFAULT 0,
	UNIQUE (user_id, name)
);
CREATE TABLE web_sessions (
	id_hash TEXT PRIMARY KEY,
	user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	csrf TEXT NOT NULL,
	expires_at BIGINT NOT NULL,
	created_at BIGINT NOT NULL
)
`},
	{10, "sha-1 and md5 of files", `
ALTER TABLE entries ADD COLUMN sha1 TEXT NOT NULL DEFAULT '';
ALTER TABLE entries ADD COLUMN md5 TEXT NOT NULL DEFAULT ''
`},
	{11, "ssh compatibility listener", `
ALTER TABLE users ADD COLUMN ssh_compat INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orgs ADD COLUMN ssh_compat INTEGER NOT NULL DEFAULT 0
`},
	// source says who manages an account: '' pier's administrators, 'ldap'
	// the directory sync, which never touches the others. source_dn is the
	// directory entry; source_state what the directory last said of it
	// ('present', 'disabled' or 'gone'), so a sync reactivates only
	// accounts it suspended itself. directory_sync holds the lease that
	// lets one node at a time sync, and when the last sync ran.
	{12, "directory sync", `
ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN source_dn TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN source_state TEXT NOT NULL DEFAULT '';
CREATE INDEX users_source ON users (source) WHERE source <> '';
CREATE TABLE directory_sync (
	name TEXT PRIMARY KEY,
	holder TEXT NOT NULL DEFAULT '',
	until_at BIGINT NOT NULL DEFAULT 0,
	last_run_at BIGINT NOT NULL DEFAULT 0,
	last_result TEXT NOT NULL DEFAULT ''
);
INSERT INTO directory_sync (name) VALUES ('ldap')
`},
	{13, "security: defender, lifecycle, MFA, certificates", `
CREATE TABLE defender_events (
	id {{ID}},
	at BIGINT NOT NULL,
	source TEXT NOT NULL,
	login TEXT NOT NULL DEFAULT '',
	kind TEXT NOT NULL,
	score INTEGER NOT NULL
);
CREATE INDEX defender_events_source ON defender_events (source, at);
CREATE INDEX defender_events_login ON defender_events (login, at) WHERE login <> '';
CREATE TABLE defender_bans (
	source TEXT PRIMARY KEY,
	until_at BIGINT NOT NULL,
	bans INTEGER NOT NULL,
	reason TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE TABLE login_sources (
	user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	source TEXT NOT NULL,
	last_at BIGINT NOT NULL,
	PRIMARY KEY (user_id, source)
);
CREATE TABLE org_policies (
	org_id BIGINT PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
	mfa TEXT NOT NULL DEFAULT '',
	mfa_keys TEXT NOT NULL DEFAULT '',
	inactive_days INTEGER NOT NULL DEFAULT 0,
	delete_days INTEGER NOT NULL DEFAULT 0
);
ALTER TABLE users ADD COLUMN status_since BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN status_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN principals TEXT NOT NULL DEFAULT '';
CREATE TABLE user_totp (
	user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	sealed TEXT NOT NULL,
	last_step BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL
);
CREATE TABLE recovery_codes (
	id {{ID}},
	user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash TEXT NOT NULL,
	used_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);
CREATE TABLE app_passwords (
	id {{ID}},
	user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	hash TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL,
	last_used BIGINT NOT NULL DEFAULT 0,
	UNIQUE (user_id, name)
);
CREATE TABLE cert_revocations (
	id {{ID}},
	kind TEXT NOT NULL,
	value TEXT NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	UNIQUE (kind, value)
);
CREATE TABLE leases (
	name TEXT PRIMARY KEY,
	holder TEXT NOT NULL,
	until_at BIGINT NOT NULL
);
INSERT INTO leases (name, holder, until_at) VALUES ('lifecycle', '', 0)
`},
	// An entry points to its folder by id, and a folder row holds its own
	// path in dir: renaming a folder rewrites the paths of the folders
	// below it, not one row per file. The root is folder 0 and has no row.
	// The table is rebuilt (SQLite cannot drop a column of a UNIQUE
	// constraint): rows keep their ids, props move with them. A row whose
	// folder is missing (none should be) stays out of sight, in folder -id.
	{14, "entries point to their folder by id", `
CREATE TABLE entries_v14 (
	id {{ID}},
	folder BIGINT NOT NULL,
	name TEXT {{C}} NOT NULL,
	kind CHAR(1) NOT NULL,
	dir TEXT {{C}},
	size BIGINT NOT NULL DEFAULT 0,
	mtime BIGINT NOT NULL,
	sha256 TEXT NOT NULL DEFAULT '',
	sha1 TEXT NOT NULL DEFAULT '',
	md5 TEXT NOT NULL DEFAULT '',
	blob_id TEXT NOT NULL DEFAULT '',
	version BIGINT NOT NULL DEFAULT 1,
	created_by TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	published_at BIGINT NOT NULL DEFAULT 0,
	shadows TEXT {{C}} NOT NULL DEFAULT '',
	old_parent TEXT {{C}} NOT NULL DEFAULT '',
	UNIQUE (folder, name)
);
INSERT INTO entries_v14 (id, folder, name, kind, dir, size, mtime, sha256, sha1, md5, blob_id, version, created_by, created_at,
	published_at, shadows, old_parent)
SELECT id, -id, name, kind, CASE WHEN kind = 'd' THEN (CASE WHEN parent = '/' THEN '' ELSE parent END) || '/' || name END,
	size, mtime, sha256, sha1, md5, blob_id, version, created_by, created_at, published_at, shadows, parent
FROM entries;
CREATE UNIQUE INDEX entries_dir ON entries_v14 (dir) WHERE dir IS NOT NULL;
UPDATE entries_v14 SET folder = CASE WHEN old_parent = '/' THEN 0
	ELSE COALESCE((SELECT d.id FROM entries_v14 d WHERE d.dir = entries_v14.old_parent), -id) END;
ALTER TABLE entries_v14 DROP COLUMN old_parent;
CREATE TABLE props_v14 (
	entry_id BIGINT NOT NULL REFERENCES entries_v14 (id) ON DELETE CASCADE,
	space TEXT NOT NULL,
	local TEXT NOT NULL,
	lang TEXT NOT NULL DEFAULT '',
	xml TEXT NOT NULL,
	PRIMARY KEY (entry_id, space, local)
);
INSERT INTO props_v14 (entry_id, space, local, lang, xml) SELECT entry_id, space, local, lang, xml FROM props;
DROP TABLE props;
DROP TABLE entries;
ALTER TABLE entries_v14 RENAME TO entries;
ALTER TABLE props_v14 RENAME TO props;
CREATE INDEX entries_blob ON entries (blob_id) WHERE blob_id <> '';
CREATE INDEX entries_shadows ON entries (folder, shadows) WHERE shadows <> '';
{{POSTGRES}} SELECT setval(pg_get_serial_sequence('entries', 'id'), GREATEST((SELECT MAX(id) FROM entries), 1));
{{POSTGRES}} ALTER SEQUENCE entries_v14_id_seq RENAME TO entries_id_seq;
{{POSTGRES}} ALTER TABLE entries RENAME CONSTRAINT entries_v14_pkey TO entries_pkey;
{{POSTGRES}} ALTER TABLE entries RENAME CONSTRAINT entries_v14_folder_name_key TO entries_folder_name_key;
{{POSTGRES}} ALTER TABLE props RENAME CONSTRAINT props_v14_pkey TO props_pkey;
{{POSTGRES}} ALTER TABLE props RENAME CONSTRAINT props_v14_entry_id_fkey TO props_entry_id_fkey
`},
	{15, "newest ban", `
CREATE INDEX defender_bans_created ON defender_bans (created_at)
`},
	{16, "sessions of every node", `
CREATE TABLE live_nodes (
	node TEXT PRIMARY KEY,
	seen_at BIGINT NOT NULL
);
CREATE TABLE live_sessions (
	id TEXT PRIMARY KEY,
	node TEXT NOT NULL,
	login TEXT NOT NULL,
	org TEXT NOT NULL,
	protocol TEXT NOT NULL,
	from_addr TEXT NOT NULL,
	started_at BIGINT NOT NULL,
	detail TEXT NOT NULL
);
CREATE INDEX live_sessions_node ON live_sessions (node);
CREATE TABLE session_ends (
	id TEXT PRIMARY KEY,
	node TEXT NOT NULL,
	reason TEXT NOT NULL,
	at BIGINT NOT NULL
);
CREATE INDEX session_ends_node ON session_ends (node)
`},
}

// SchemaVersion is the version Migrate brings a database to.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

func (d *DB) expand(q string) string {
	id, c := "INTEGER PRIMARY KEY", ""
	if d.Dialect == Postgres {
		id, c = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", `COLLATE "C"`
	}
	return strings.NewReplacer("{{ID}}", id, "{{C}}", c).Replace(q)
}

// Migrate applies every pending migration. On PostgreSQL an advisory lock
// keeps several pier nodes starting at once from racing.
func (d *DB) Migrate(ctx context.Context) error { return d.migrate(ctx, SchemaVersion()) }

// migrate applies the pending migrations up to version upTo.
func (d *DB) migrate(ctx context.Context, upTo int) error {
	conn, err := d.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if d.Dialect == Postgres {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7231001)"); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7231001)")
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if current > SchemaVersion() {
		return fmt.Errorf("migrate: database schema version %d is newer than this pier (%d): upgrade pier", current, SchemaVersion())
	}
	for _, m := range migrations {
		if m.version <= current || m.version > upTo {
			continue
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %d: %w", m.version, err)
		}
		for stmt := range strings.SplitSeq(d.expand(m.sql), ";\n") {
			stmt = strings.TrimSpace(stmt)
			if pg, ok := strings.CutPrefix(stmt, "{{POSTGRES}}"); ok {
				if d.Dialect != Postgres {
					continue
				}
				stmt = pg
			}
			if stmt == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				tx.Rollback()
				return fmt.Errorf("migrate %d (%s): %w", m.version, m.name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
			m.version, m.name, time.Now().Unix()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %d: %w", m.version, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %d: %w", m.version, err)
		}
	}
	return nil
}
