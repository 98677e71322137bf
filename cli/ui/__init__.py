"""The CLI's face: options, the console, and every renderer (tables, change lists, the audit's HTML)."""
