"""The GraphQL schema's types and their resolvers, over the domain packages of app."""
