-- connections.list(project_id, provider=..., group_ref=..., consumer_ref=..., status=...):
-- each filter with the project scope, then the list order, so a filtered page is an index
-- range scan (TableSpec.lookups declares the same filters for the memory store).

CREATE INDEX connections_project_id_provider_create_time_id_idx
  ON connections (project_id, provider, create_time, id);
CREATE INDEX connections_project_id_group_ref_create_time_id_idx
  ON connections (project_id, group_ref, create_time, id);
CREATE INDEX connections_project_id_consumer_ref_create_time_id_idx
  ON connections (project_id, consumer_ref, create_time, id);
CREATE INDEX connections_project_id_status_create_time_id_idx
  ON connections (project_id, status, create_time, id);
