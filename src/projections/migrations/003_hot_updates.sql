-- The projector updates rows soon after inserting them (a project on every batch, a deployment and its
-- steps as they progress), never in an indexed column: leave room in each page so those updates stay
-- on the page (HOT) and skip the indexes. Applies to pages written from now on.
alter table projects set (fillfactor = 50);
alter table deployments set (fillfactor = 70);
alter table deployment_steps set (fillfactor = 70);
