"""Between processes: the bus (memory or Redis) and the web workers' mirror of it."""
