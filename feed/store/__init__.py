"""The feed's tables: the write-behind store and what it reads back."""
