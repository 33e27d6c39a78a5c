-- Tenant isolation: deployment ids are unique only within a project (a raw NATS publisher chooses its
-- own), so every deployment-keyed row is keyed by (project_id, deployment_id). Rows written before
-- take their project from their deployment; rows whose deployment is unknown cannot be placed and go
-- (a rebuild restores everything from the log).

alter table deployment_steps add column project_id text;
update deployment_steps s set project_id = d.project_id from deployments d where d.deployment_id = s.deployment_id;
delete from deployment_steps where project_id is null;
alter table deployment_steps alter column project_id set not null;
alter table deployment_steps drop constraint deployment_steps_pkey;
alter table deployment_steps add primary key (project_id, deployment_id, step);

alter table instances add column project_id text;
update instances i set project_id = d.project_id from deployments d where d.deployment_id = i.deployment_id;
delete from instances where project_id is null;
alter table instances alter column project_id set not null;
alter table instances drop constraint instances_pkey;
alter table instances add primary key (project_id, deployment_id, instance_id);

alter table openapi_specs add column project_id text;
update openapi_specs o set project_id = d.project_id from deployments d where d.deployment_id = o.deployment_id;
delete from openapi_specs where project_id is null;
alter table openapi_specs alter column project_id set not null;
alter table openapi_specs drop constraint openapi_specs_pkey;
alter table openapi_specs add primary key (project_id, deployment_id);

alter table deployments drop constraint deployments_pkey;
alter table deployments add primary key (project_id, deployment_id);
-- The unscoped routes (GET /v1/deployments/:id) look a deployment id up across projects.
create index deployments_id on deployments (deployment_id);

drop index domains_deployment;
create index domains_deployment on domains (project_id, deployment_id);
