"""The GraphQL API: types, queries, mutations, subscriptions, loaders, error mapping."""
