"""ChatTree: a GraphQL backend for branching LLM conversations."""
