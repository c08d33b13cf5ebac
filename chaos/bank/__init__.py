"""The chaos bank: participant services whose accounts live in PostgreSQL or MariaDB."""
