"""Text shared by storage and search: the normalised shadow text the search indexes hold (a leaf)."""
