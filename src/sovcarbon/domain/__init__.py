"""Pure registry rules: no I/O, no database, no HTTP. Everything here is plain Python over plain objects."""
