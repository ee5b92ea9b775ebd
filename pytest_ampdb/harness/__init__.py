"""The test harness: pytest glue, fixtures, settings, test backends, servers, templates,
isolation, mock builders. The data layer (everything outside this package) never imports it."""
