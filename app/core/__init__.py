"""The bottom of the stack: ids, errors, records, user agents. Imports nothing else of app."""
