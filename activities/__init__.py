"""Every side effect of a convention: persisting milestones, notifying parties."""
