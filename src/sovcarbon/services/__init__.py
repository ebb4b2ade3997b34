"""Use cases: each runs inside one unit of work, calls the domain rules, writes the journal.

The only callers of domain and store together. Entry points (API, CLI, web) call these.
"""
