"""Cohort analytics from the follow-up cohort (issue 17): pure statistics modules
(persontime, incidence, cumulative, onset, maxsprt, lots) under thin layers
(queries reads the cohort, service assembles answers, router serves them, job monitors)."""
