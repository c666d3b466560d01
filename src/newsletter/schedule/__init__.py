"""The schedule: slots from cron expressions, the daemon that makes them, its lock, the run log."""
