"""At-home lozenge oversight: dose sessions with a sitter, check-ins, escalations, and a paper trail."""
