"""Test support that does not ship in the wheel (tests/ and bench/ import it; nothing under pipeline/ else does):
synthetic media, throwaway PostgreSQL / S3 / Prefect servers, a loopback RFC 3161 authority and Hugging Face hub."""
