"""Hardware-aware neural architecture search for face segmentation over Archai's hourglass space."""
