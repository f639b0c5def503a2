"""The scheduler process: the job list, and the jobs' commit point."""
