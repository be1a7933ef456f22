"""gazokako service code shared by the cloud functions: configuration, wiring, jobs, errors.

`imaging/` is the pure image core; this package is the cloud edge around it.
"""
