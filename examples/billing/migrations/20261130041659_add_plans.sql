-- Create "plans" table
CREATE TABLE "plans" (
  "id" uuid NOT NULL,
  "name" text NOT NULL,
  "monthly_cents" bigint NOT NULL,
  "create_time" timestamp with time zone NOT NULL DEFAULT now(),
  "update_time" timestamp with time zone NULL,
  CONSTRAINT "plans_monthly_cents_check" CHECK ((monthly_cents >= 0)),
  CONSTRAINT "plans_pkey" PRIMARY KEY (id),
  CONSTRAINT "plans_name_key" UNIQUE (name)
);
-- Create index "plans_create_time_id_idx" to table: "plans"
CREATE INDEX plans_create_time_id_idx ON plans USING btree (create_time, id);
