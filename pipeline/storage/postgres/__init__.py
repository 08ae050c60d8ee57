"""The PostgreSQL catalogue (CLIPWATCH_DATABASE_URL=postgresql://…): same tables and meaning as the SQLite one."""
