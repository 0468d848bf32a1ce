"""Authentication, authorization and abuse limits of the gateway.

`jwt` is the only module that imports python-jose. `oauth` serves the built-in authorization
server for machine clients. `issuers` fetches the keys that verify dashboard users' tokens from
external identity providers. `middleware` turns a request into a `Principal` and applies the
rate limits.
"""
