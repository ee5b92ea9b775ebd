-- Operations run for an installation; their status only moves forward.

CREATE TABLE operations (
  id uuid NOT NULL,
  project_id uuid NOT NULL,
  integration_id uuid NOT NULL,
  installation_id uuid NOT NULL,
  type text NOT NULL,
  status text NOT NULL,
  result text NULL,
  metadata jsonb NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  update_time timestamptz NULL,
  CONSTRAINT operations_pkey PRIMARY KEY (id),
  CONSTRAINT operations_project_id_fkey FOREIGN KEY (project_id)
    REFERENCES projects (id) ON DELETE CASCADE,
  CONSTRAINT operations_integration_id_fkey FOREIGN KEY (integration_id)
    REFERENCES integrations (id) ON DELETE CASCADE,
  CONSTRAINT operations_installation_id_fkey FOREIGN KEY (installation_id)
    REFERENCES installations (id) ON DELETE CASCADE,
  CONSTRAINT operations_type_check CHECK (type IN ('read', 'write', 'proxy')),
  CONSTRAINT operations_status_check CHECK (
    status IN ('pending', 'running', 'completed', 'failed')
  )
);

CREATE INDEX operations_integration_id_idx ON operations (integration_id);

-- operations.list_by_installation(project_id, installation_id, status=...); also the reference.
CREATE INDEX operations_installation_id_status_idx ON operations (installation_id, status);

-- Allowed moves: pending -> running | failed, running -> completed | failed; keeping the same
-- status is no move. Anything else is SQLSTATE AM001 (see pytest_ampdb/postgres/sqlstate.py).
CREATE FUNCTION operations_status_move() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
    (OLD.status = 'pending' AND NEW.status IN ('running', 'failed'))
    OR (OLD.status = 'running' AND NEW.status IN ('completed', 'failed'))
  ) THEN
    RAISE EXCEPTION USING
      ERRCODE = 'AM001',
      MESSAGE = format('%s: id=%s cannot move from %s to %s',
                       TG_TABLE_NAME, OLD.id, OLD.status, NEW.status),
      TABLE = TG_TABLE_NAME,
      COLUMN = 'status';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER operations_status_move
  BEFORE UPDATE OF status ON operations
  FOR EACH ROW EXECUTE FUNCTION operations_status_move();
