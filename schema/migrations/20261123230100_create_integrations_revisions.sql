-- Integrations and their immutable revisions. integrations.latest_revision_id and
-- revisions.integration_id reference each other, so the first reference is added once both
-- tables exist.

CREATE TABLE integrations (
  id uuid NOT NULL,
  project_id uuid NOT NULL,
  name text NOT NULL,
  provider text NOT NULL,
  latest_revision_id uuid NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  update_time timestamptz NULL,
  CONSTRAINT integrations_pkey PRIMARY KEY (id),
  CONSTRAINT integrations_project_id_name_key UNIQUE (project_id, name),
  CONSTRAINT integrations_project_id_fkey FOREIGN KEY (project_id)
    REFERENCES projects (id) ON DELETE CASCADE
);

CREATE TABLE revisions (
  id uuid NOT NULL,
  project_id uuid NOT NULL,
  integration_id uuid NOT NULL,
  spec_version text NOT NULL,
  content jsonb NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT revisions_pkey PRIMARY KEY (id),
  CONSTRAINT revisions_project_id_fkey FOREIGN KEY (project_id)
    REFERENCES projects (id) ON DELETE CASCADE,
  CONSTRAINT revisions_integration_id_fkey FOREIGN KEY (integration_id)
    REFERENCES integrations (id) ON DELETE CASCADE
);

ALTER TABLE integrations
  ADD CONSTRAINT integrations_latest_revision_id_fkey FOREIGN KEY (latest_revision_id)
    REFERENCES revisions (id) ON DELETE SET NULL;

CREATE INDEX integrations_latest_revision_id_idx ON integrations (latest_revision_id);

-- revisions.list_by_integration reads in this order; the index also serves the reference.
CREATE INDEX revisions_integration_id_create_time_id_idx
  ON revisions (integration_id, create_time, id);

-- A revision is written once and never changed (SQLSTATE AM002, see pytest_ampdb/postgres/sqlstate.py).
-- The trigger argument names the primary key column, shown in the message and detail.
CREATE FUNCTION ampdb_refuse_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING
    ERRCODE = 'AM002',
    MESSAGE = format('%s.%s: rows are immutable once written', TG_TABLE_NAME, TG_ARGV[0]),
    DETAIL = format('%s=%s', TG_ARGV[0], to_jsonb(OLD) ->> TG_ARGV[0]),
    TABLE = TG_TABLE_NAME;
END;
$$;

CREATE TRIGGER revisions_immutable
  BEFORE UPDATE ON revisions
  FOR EACH ROW EXECUTE FUNCTION ampdb_refuse_update('id');
