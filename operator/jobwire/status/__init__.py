"""Pure helpers that compute status: conditions, bounded histories."""
