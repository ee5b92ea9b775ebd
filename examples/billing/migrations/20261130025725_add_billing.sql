-- Modify "api_keys" table
ALTER TABLE "api_keys" ADD COLUMN "tier" text NOT NULL DEFAULT 'free'::text;
-- Create "invoices" table
CREATE TABLE "invoices" (
  "id" uuid NOT NULL,
  "project_id" uuid NOT NULL,
  "api_key" text NULL,
  "amount_cents" bigint NOT NULL,
  "create_time" timestamp with time zone NOT NULL DEFAULT now(),
  "update_time" timestamp with time zone NULL,
  CONSTRAINT "invoices_amount_cents_check" CHECK ((amount_cents >= 0)),
  CONSTRAINT "invoices_pkey" PRIMARY KEY (id)
);
-- Add keys and checks to "api_keys" table
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_project_id_key_key" UNIQUE (project_id, key);
-- Add references to "invoices" table
ALTER TABLE "invoices" ADD CONSTRAINT "invoices_project_id_fkey" FOREIGN KEY (project_id) REFERENCES projects(id) ON DELETE CASCADE, ADD CONSTRAINT "invoices_api_key_fkey" FOREIGN KEY (project_id, api_key) REFERENCES api_keys(project_id, key) ON DELETE SET NULL (api_key);
-- Create index "invoices_project_id_create_time_id_idx" to table: "invoices"
CREATE INDEX invoices_project_id_create_time_id_idx ON invoices USING btree (project_id, create_time, id);
-- Create index "invoices_api_key_idx" to table: "invoices"
CREATE INDEX invoices_api_key_idx ON invoices USING btree (api_key);
