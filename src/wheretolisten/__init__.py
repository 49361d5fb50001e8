"""wheretolisten: steer where a Large Audio-Language Model listens, and read out when a sound happens."""

__version__ = "0.1.0"
