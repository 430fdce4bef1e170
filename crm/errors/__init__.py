"""Error pages in the user's language; a 500 rolls the session back."""
