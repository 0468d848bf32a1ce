"""Pydantic models of the subsystems' wire payloads, one module per subsystem.

The models follow the REST contracts in docs/api/. Unknown fields are ignored so a subsystem can
add fields without breaking the gateway; missing or mistyped fields fail validation and become
`UPSTREAM_BAD_RESPONSE` errors.
"""
