"""The application: runs built from the library layers, as the CLI verbs use them."""
