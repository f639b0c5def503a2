"""What every web entry point shares: the commit point, error rendering, authentication."""
