"""Live chat: read Twitch-style IRC channels, score messages as they arrive, report flagged ones."""
