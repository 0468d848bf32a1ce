"""Strawberry types and resolvers: the GraphQL face of the gateway.

Resolvers stay thin: they ask connectors (through per-request DataLoaders) and shape answers.
"""
