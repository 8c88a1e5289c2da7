"""Registry services: the only way registry objects are created or changed."""
