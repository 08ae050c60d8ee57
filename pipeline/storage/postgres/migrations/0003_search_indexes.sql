-- Search indexes over unflagged segments only (flagged ones: hallucination, music… are stored but not searchable).
CREATE INDEX segments_fts ON segments USING gin (fts) WHERE flags = '';
CREATE INDEX segments_bigrams ON segments USING gin (bigrams) WHERE flags = '';
CREATE INDEX segments_trgm ON segments USING gin (text gin_trgm_ops) WHERE flags = '';
