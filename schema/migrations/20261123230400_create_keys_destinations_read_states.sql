-- API keys, destinations, JWT signing keys and the read cursor of each installation's objects.

CREATE TABLE api_keys (
  key text COLLATE "C" NOT NULL,
  project_id uuid NOT NULL,
  label text NOT NULL,
  active boolean NOT NULL,
  scopes text[] NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT api_keys_pkey PRIMARY KEY (key),
  CONSTRAINT api_keys_project_id_fkey FOREIGN KEY (project_id)
    REFERENCES projects (id) ON DELETE CASCADE,
  CONSTRAINT api_keys_scopes_check CHECK (scopes <@ ARRAY['full', 'frontend', 'admin'])
);

CREATE TABLE destinations (
  id uuid NOT NULL,
  project_id uuid NOT NULL,
  name text NOT NULL,
  type text NOT NULL,
  metadata jsonb NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  update_time timestamptz NULL,
  CONSTRAINT destinations_pkey PRIMARY KEY (id),
  CONSTRAINT destinations_project_id_name_key UNIQUE (project_id, name),
  CONSTRAINT destinations_project_id_fkey FOREIGN KEY (project_id)
    REFERENCES projects (id) ON DELETE CASCADE,
  CONSTRAINT destinations_type_check CHECK (type IN (
    'webhook', 'kinesis', 's3', 'slack', 'clickhouse', 'snowflake', 'bigquery', 'redshift',
    'sqs', 'pubsub', 'rabbitmq', 'azureservicebus'
  ))
);

CREATE TABLE jwt_keys (
  id uuid NOT NULL,
  project_id uuid NOT NULL,
  label text NOT NULL,
  algorithm text NOT NULL,
  public_key_pem text NOT NULL,
  active boolean NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  update_time timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT jwt_keys_pkey PRIMARY KEY (id),
  CONSTRAINT jwt_keys_project_id_fkey FOREIGN KEY (project_id)
    REFERENCES projects (id) ON DELETE CASCADE,
  CONSTRAINT jwt_keys_label_check CHECK (char_length(label) BETWEEN 1 AND 255),
  CONSTRAINT jwt_keys_algorithm_check CHECK (algorithm = 'RS256')
);

-- object_name sorts byte-wise ("C"), like Python's str ordering in the memory store.
CREATE TABLE read_states (
  id uuid NOT NULL,
  project_id uuid NOT NULL,
  installation_id uuid NOT NULL,
  object_name text COLLATE "C" NOT NULL,
  next_page_token text NULL,
  since_time timestamptz NULL,
  records_processed bigint NOT NULL,
  update_time timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT read_states_pkey PRIMARY KEY (id),
  CONSTRAINT read_states_installation_id_object_name_key UNIQUE (installation_id, object_name),
  CONSTRAINT read_states_project_id_fkey FOREIGN KEY (project_id)
    REFERENCES projects (id) ON DELETE CASCADE,
  CONSTRAINT read_states_installation_id_fkey FOREIGN KEY (installation_id)
    REFERENCES installations (id) ON DELETE CASCADE
);
