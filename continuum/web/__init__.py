"""The read-only web app (`continuum serve`) and the static funder report, both reading the published
copy of the warehouse."""
