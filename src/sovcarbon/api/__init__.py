"""HTTP entry point (FastAPI): authentication, the error envelope, thin routers over the services."""
