-- Add keys and checks to "invoices" table
ALTER TABLE "invoices" ADD CONSTRAINT "invoices_api_key_length_check" CHECK ((char_length(api_key) <= 255));
-- Add keys and checks to "plans" table
ALTER TABLE "plans" ADD CONSTRAINT "plans_name_length_check" CHECK ((char_length(name) <= 255));
