"""SQL for each entity. Functions take an open connection so callers choose the transaction."""
