-- Organizations own projects; a project is the tenant every other table is scoped to.

CREATE TABLE organizations (
  id uuid NOT NULL,
  label text NOT NULL,
  default_team_id uuid NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  update_time timestamptz NULL,
  CONSTRAINT organizations_pkey PRIMARY KEY (id)
);

CREATE TABLE projects (
  id uuid NOT NULL,
  name text NOT NULL,
  app_name text NOT NULL,
  organization_id uuid NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  update_time timestamptz NULL,
  CONSTRAINT projects_pkey PRIMARY KEY (id),
  CONSTRAINT projects_name_key UNIQUE (name),
  CONSTRAINT projects_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES organizations (id) ON DELETE NO ACTION,
  CONSTRAINT projects_name_check CHECK (name ~ '^[a-z0-9][a-z0-9-]*[a-z0-9]$')
);

-- Deleting an organization is refused while it has projects: the lookup needs this index.
CREATE INDEX projects_organization_id_idx ON projects (organization_id);
