-- One index per list order: the project scope, then the order columns, so a page is an index
-- range scan. Project-scoped indexes also serve each table's project_id reference.

CREATE INDEX organizations_create_time_id_idx ON organizations (create_time, id);
CREATE INDEX projects_create_time_id_idx ON projects (create_time, id);
CREATE INDEX integrations_project_id_create_time_id_idx ON integrations (project_id, create_time, id);
CREATE INDEX revisions_project_id_create_time_id_idx ON revisions (project_id, create_time, id);
CREATE INDEX installations_project_id_create_time_id_idx ON installations (project_id, create_time, id);
CREATE INDEX operations_project_id_create_time_id_idx ON operations (project_id, create_time, id);
CREATE INDEX connections_project_id_create_time_id_idx ON connections (project_id, create_time, id);
CREATE INDEX provider_apps_project_id_create_time_id_idx ON provider_apps (project_id, create_time, id);
CREATE INDEX api_keys_project_id_create_time_key_idx ON api_keys (project_id, create_time, key);
CREATE INDEX destinations_project_id_create_time_id_idx ON destinations (project_id, create_time, id);
CREATE INDEX jwt_keys_project_id_create_time_id_idx ON jwt_keys (project_id, create_time, id);
CREATE INDEX read_states_project_id_installation_id_object_name_id_idx
  ON read_states (project_id, installation_id, object_name, id);
