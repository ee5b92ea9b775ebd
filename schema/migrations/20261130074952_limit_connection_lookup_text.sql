-- Add keys and checks to "connections" table
ALTER TABLE "connections" ADD CONSTRAINT "connections_provider_length_check" CHECK ((char_length(provider) <= 255)), ADD CONSTRAINT "connections_group_ref_length_check" CHECK ((char_length(group_ref) <= 255)), ADD CONSTRAINT "connections_consumer_ref_length_check" CHECK ((char_length(consumer_ref) <= 255));
