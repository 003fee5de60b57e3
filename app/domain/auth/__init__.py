"""Authentication: users, argon2 passwords, JWT access tokens and rotating refresh tokens."""
