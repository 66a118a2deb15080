"""The job contract: a queue message checked and turned into a Job before anything runs (pure logic, no services).

Dependencies point one way: `fields` (validators) <- section parsers (`metocean`, `drift_objects`, `seeding`,
`drift_model`, `drifters`, driftline/search/contract.py, `scenarios`) <- `params` (MissionParams, Job) <- `rules`
(cross-field checks) <- `parse` (parse_job). Every rejection is an InvalidJob whose one line names the key.
"""
