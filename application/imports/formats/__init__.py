"""Source formats: each a reader and a pure mapper from a source record to commands."""
