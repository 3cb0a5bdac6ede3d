"""Security: request context, authentication, authorisation policy, audit (issue "Security and privacy")."""
