"""Screening, contraindications, Schedule III prescriptions and their limits."""
