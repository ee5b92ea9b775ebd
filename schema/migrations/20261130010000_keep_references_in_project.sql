-- Every reference stays inside its project: a project-scoped reference is the composite
-- (project_id, <ref>) -> (project_id, id), so PostgreSQL itself refuses a row of one project
-- that names another project's row, and no ON DELETE can reach across projects. SET NULL
-- clears the reference column only (PostgreSQL 15 column lists), never project_id.
-- Indexed text gets a length limit far below the btree entry limit (see MAX_INDEXED_TEXT in
-- pytest_ampdb/models/tables.py).

ALTER TABLE integrations ADD CONSTRAINT integrations_project_id_id_key UNIQUE (project_id, id);
ALTER TABLE revisions ADD CONSTRAINT revisions_project_id_id_key UNIQUE (project_id, id);
ALTER TABLE provider_apps ADD CONSTRAINT provider_apps_project_id_id_key UNIQUE (project_id, id);
ALTER TABLE connections ADD CONSTRAINT connections_project_id_id_key UNIQUE (project_id, id);
ALTER TABLE installations ADD CONSTRAINT installations_project_id_id_key UNIQUE (project_id, id);

ALTER TABLE integrations
  DROP CONSTRAINT integrations_latest_revision_id_fkey,
  ADD CONSTRAINT integrations_latest_revision_id_fkey FOREIGN KEY (project_id, latest_revision_id)
    REFERENCES revisions (project_id, id) ON DELETE SET NULL (latest_revision_id);

ALTER TABLE revisions
  DROP CONSTRAINT revisions_integration_id_fkey,
  ADD CONSTRAINT revisions_integration_id_fkey FOREIGN KEY (project_id, integration_id)
    REFERENCES integrations (project_id, id) ON DELETE CASCADE;

ALTER TABLE connections
  DROP CONSTRAINT connections_provider_app_id_fkey,
  ADD CONSTRAINT connections_provider_app_id_fkey FOREIGN KEY (project_id, provider_app_id)
    REFERENCES provider_apps (project_id, id) ON DELETE SET NULL (provider_app_id);

ALTER TABLE installations
  DROP CONSTRAINT installations_integration_id_fkey,
  DROP CONSTRAINT installations_connection_id_fkey,
  ADD CONSTRAINT installations_integration_id_fkey FOREIGN KEY (project_id, integration_id)
    REFERENCES integrations (project_id, id) ON DELETE CASCADE,
  ADD CONSTRAINT installations_connection_id_fkey FOREIGN KEY (project_id, connection_id)
    REFERENCES connections (project_id, id) ON DELETE NO ACTION;

ALTER TABLE operations
  DROP CONSTRAINT operations_integration_id_fkey,
  DROP CONSTRAINT operations_installation_id_fkey,
  ADD CONSTRAINT operations_integration_id_fkey FOREIGN KEY (project_id, integration_id)
    REFERENCES integrations (project_id, id) ON DELETE CASCADE,
  ADD CONSTRAINT operations_installation_id_fkey FOREIGN KEY (project_id, installation_id)
    REFERENCES installations (project_id, id) ON DELETE CASCADE;

ALTER TABLE read_states
  DROP CONSTRAINT read_states_installation_id_fkey,
  ADD CONSTRAINT read_states_installation_id_fkey FOREIGN KEY (project_id, installation_id)
    REFERENCES installations (project_id, id) ON DELETE CASCADE;

-- The keys that hold a reference lead with project_id too: an insert naming another project's
-- parent then conflicts with nothing there (so it cannot learn of that project's rows) and
-- fails the reference, and read_states.upsert can only ever find its own project's cursor.
ALTER TABLE installations
  DROP CONSTRAINT installations_integration_id_group_ref_key,
  ADD CONSTRAINT installations_project_id_integration_id_group_ref_key
    UNIQUE (project_id, integration_id, group_ref);
ALTER TABLE read_states
  DROP CONSTRAINT read_states_installation_id_object_name_key,
  ADD CONSTRAINT read_states_project_id_installation_id_object_name_key
    UNIQUE (project_id, installation_id, object_name);

ALTER TABLE projects
  ADD CONSTRAINT projects_name_length_check CHECK (char_length(name) <= 255);
ALTER TABLE integrations
  ADD CONSTRAINT integrations_name_length_check CHECK (char_length(name) <= 255);
ALTER TABLE installations
  ADD CONSTRAINT installations_group_ref_length_check CHECK (char_length(group_ref) <= 255);
ALTER TABLE provider_apps
  ADD CONSTRAINT provider_apps_provider_length_check CHECK (char_length(provider) <= 255);
ALTER TABLE api_keys
  ADD CONSTRAINT api_keys_key_length_check CHECK (char_length(key) <= 255);
ALTER TABLE destinations
  ADD CONSTRAINT destinations_name_length_check CHECK (char_length(name) <= 255);
ALTER TABLE read_states
  ADD CONSTRAINT read_states_object_name_length_check CHECK (char_length(object_name) <= 255);
