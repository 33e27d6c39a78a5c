-- Who sent the command behind each audited event: the API token's id (tok_…, admin) when the API's
-- signature verified, 'nats' for any other publisher, null for step results and older envelopes.
alter table audit_events add column actor text;
