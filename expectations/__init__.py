"""Great Expectations suites, kept as code, that gate every landed batch before it reaches the warehouse.

`families` turns a landed events file into one DataFrame per event family (the `data` JSON parsed into
columns), `suites` declares one ExpectationSuite per family plus one for the batch as a whole, and
`runner` runs them with a file-backed GX context under CONTINUUM_HOME and keeps every result as JSON.
"""
