-- Delivery keys are pruned once a day old (Slack redelivers within minutes):
-- the leader deletes the oldest in small batches, which this index finds
-- without reading the whole table.
CREATE INDEX processed_envelopes_by_received_at ON processed_envelopes (received_at);
