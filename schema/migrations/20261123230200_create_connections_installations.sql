-- Provider apps, the connections made through them, and the installations using a connection.

CREATE TABLE provider_apps (
  id uuid NOT NULL,
  project_id uuid NOT NULL,
  provider text NOT NULL,
  client_id text NOT NULL,
  client_secret text NOT NULL,
  scopes text[] NOT NULL,
  external_ref text NULL,
  metadata jsonb NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  update_time timestamptz NULL,
  CONSTRAINT provider_apps_pkey PRIMARY KEY (id),
  CONSTRAINT provider_apps_project_id_provider_key UNIQUE (project_id, provider),
  CONSTRAINT provider_apps_project_id_fkey FOREIGN KEY (project_id)
    REFERENCES projects (id) ON DELETE CASCADE
);

CREATE TABLE connections (
  id uuid NOT NULL,
  project_id uuid NOT NULL,
  provider text NOT NULL,
  provider_app_id uuid NULL,
  group_ref text NOT NULL,
  group_name text NOT NULL,
  consumer_ref text NOT NULL,
  consumer_name text NOT NULL,
  auth_scheme text NOT NULL,
  status text NOT NULL,
  provider_workspace_ref text NULL,
  provider_metadata jsonb NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  update_time timestamptz NULL,
  CONSTRAINT connections_pkey PRIMARY KEY (id),
  CONSTRAINT connections_project_id_fkey FOREIGN KEY (project_id)
    REFERENCES projects (id) ON DELETE CASCADE,
  CONSTRAINT connections_provider_app_id_fkey FOREIGN KEY (provider_app_id)
    REFERENCES provider_apps (id) ON DELETE SET NULL,
  CONSTRAINT connections_auth_scheme_check CHECK (auth_scheme IN (
    'none', 'apiKey', 'basic', 'oauth2/authorizationCode', 'oauth2/authorizationCodePKCE',
    'oauth2/clientCredentials', 'oauth2/password'
  )),
  CONSTRAINT connections_status_check CHECK (status IN ('created', 'working', 'bad_credentials'))
);

CREATE INDEX connections_provider_app_id_idx ON connections (provider_app_id);

CREATE TABLE installations (
  id uuid NOT NULL,
  project_id uuid NOT NULL,
  integration_id uuid NOT NULL,
  connection_id uuid NOT NULL,
  group_ref text NOT NULL,
  group_name text NOT NULL,
  health_status text NOT NULL,
  last_operation_status text NULL,
  config jsonb NOT NULL,
  created_by text NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  update_time timestamptz NULL,
  CONSTRAINT installations_pkey PRIMARY KEY (id),
  CONSTRAINT installations_integration_id_group_ref_key UNIQUE (integration_id, group_ref),
  CONSTRAINT installations_project_id_fkey FOREIGN KEY (project_id)
    REFERENCES projects (id) ON DELETE CASCADE,
  CONSTRAINT installations_integration_id_fkey FOREIGN KEY (integration_id)
    REFERENCES integrations (id) ON DELETE CASCADE,
  CONSTRAINT installations_connection_id_fkey FOREIGN KEY (connection_id)
    REFERENCES connections (id) ON DELETE NO ACTION,
  CONSTRAINT installations_health_status_check CHECK (health_status IN ('healthy', 'unhealthy')),
  CONSTRAINT installations_last_operation_status_check CHECK (
    last_operation_status IN ('pending', 'running', 'completed', 'failed')
  ),
  CONSTRAINT installations_created_by_check CHECK (created_by ~ '^(consumer|builder):.+$')
);

CREATE INDEX installations_connection_id_idx ON installations (connection_id);
