"""Task adapters (CS-MRI, denoising). Each subpackage registers its task when imported; the
application imports them through the ``nasengine.tasks`` entry points declared in pyproject.toml."""
